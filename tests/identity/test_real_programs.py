"""Behaviour identity of real programs: each runs natively and under
`connleak run` and must show the same stdout, stderr and exit status.

  PythonSsl        Debian's /usr/bin/python3: ssl.create_default_context(),
                   a verified TLS client over a socket (protocol, cipher,
                   peer certificate, verification errors), 8 threads of
                   TLS clients at once, ctypes probing the global scope for
                   libcurl and OpenSSL functions
  PythonHttps      urllib.request and requests over https
  PythonFds        subprocess close_fds / pass_fds / posix_spawn children
                   listing and fstat-ing their fds; os.closerange(3, 65536)
                   and a close() loop up to RLIMIT_NOFILE in the program,
                   then sockets, HTTP, HTTPS and a child again
  DlopenPlugin     plugin_host dlopen(RTLD_LOCAL)s a plugin that links
                   libcurl and OpenSSL (the host links neither): HTTP and
                   HTTPS via libcurl, a handshake via SSL_connect; the
                   plugin's leaked curl easy handle and SSL_CTX are reported
  OtherClients     curl, wget, openssl s_client, Perl IO::Socket::SSL and
                   HTTP::Tiny (skipped when not installed)

Servers: a CA and a server certificate for localhost/127.0.0.1 made with
the openssl CLI, an HTTP and an HTTPS server on 127.0.0.1 (ports picked by
the kernel), all started by this module and stopped at its end.
"""

import json
import os
import shutil
import subprocess
import sys
import unittest

from identity_harness import IdentityTest, program, run_traced

HERE = os.path.dirname(os.path.abspath(__file__))
REAL = os.path.join(HERE, "real")
sys.path.insert(0, REAL)

from loopback_servers import HttpServer, Pki  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with Debian's _ssl and python3-requests
TIMEOUT = 30
# No proxy may ever see these requests: every client goes straight to
# 127.0.0.1 (the clients are told so as well).
NO_PROXY = {name: "" for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                                  "ALL_PROXY")}
NO_PROXY.update(no_proxy="*", NO_PROXY="*")

pki = http = https = None


def setUpModule():
    global pki, http, https
    pki = Pki()
    unittest.addModuleCleanup(pki.remove)
    http = HttpServer().start()
    unittest.addModuleCleanup(http.stop)
    https = HttpServer(tls=(pki.cert, pki.key)).start()
    unittest.addModuleCleanup(https.stop)


def real(name):
    return os.path.join(REAL, name)


def dump(value):
    return json.dumps(value, indent=1)


def findings(report, kind):
    return [f for f in report["findings"] if f["kind"] == kind]


def instances(found):
    return [i for f in found for i in f["instances"]]


def leak_line(source, marker):
    with open(real(source)) as f:
        for number, line in enumerate(f, 1):
            if f"LEAK: {marker} " in line:
                return number
    raise AssertionError(f"no LEAK: {marker} in {source}")


def python_can_import(module):
    completed = subprocess.run([SYSTEM_PYTHON, "-c", f"import {module}"], capture_output=True, timeout=TIMEOUT)
    return completed.returncode == 0


class RealProgramTest(IdentityTest):
    def identical(self, argv, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        kwargs["env"] = {**NO_PROXY, **kwargs.get("env", {})}
        return self.assert_identical(argv, **kwargs)

    def assert_native_ok(self, native, *expected, returncode=0):
        """The native run itself did what the test is about (else the
        comparison proves nothing)."""
        self.assertEqual(native.returncode, returncode, native.stdout + native.stderr)
        for text in expected:
            self.assertIn(text, native.stdout, native.stdout + native.stderr)

    def assert_no_leaked_sockets(self, traced):
        for kind in ("leaked-connection", "leaked-socket"):
            self.assertEqual(findings(traced.report, kind), [], dump(traced.report["findings"]))


@unittest.skipUnless(os.path.exists(SYSTEM_PYTHON), f"{SYSTEM_PYTHON} is not installed")
class PythonSsl(RealProgramTest):
    def test_create_default_context(self):
        native, traced = self.identical([SYSTEM_PYTHON, "-c", "import ssl; ssl.create_default_context(); print('ok')"])
        self.assert_native_ok(native, "ok")
        self.assert_no_shim_failure(traced)

    def test_tls_client_over_a_socket(self):
        native, traced = self.identical([SYSTEM_PYTHON, real("py_tls.py"), "socket", str(https.port), pki.ca])
        self.assert_native_ok(native, "localhost: version TLSv1.3", "127.0.0.1: version TLSv1.3",
                              "peer subject: organizationName=connleak tests, commonName=localhost",
                              "body: 'hello from /py-socket-name\\n'", "body: 'hello from /py-socket-ip\\n'",
                              "localhost: verify failed: CERTIFICATE_VERIFY_FAILED / 20",
                              "not-localhost.invalid: verify failed: CERTIFICATE_VERIFY_FAILED / 62",
                              "localhost: version TLSv1.2", "body: 'hello from /py-socket-tls12\\n'")
        self.assert_no_shim_failure(traced)
        self.assert_no_leaked_sockets(traced)
        # Three SSL_CTX (two with the test CA, one with the defaults) and
        # five SSL: the shim saw Python's own sessions.
        self.assertGreaterEqual(traced.report["summary"]["sessions_created"], 8, dump(traced.report["summary"]))

    def test_tls_clients_in_threads(self):
        native, traced = self.identical([SYSTEM_PYTHON, real("py_tls.py"), "threads", str(https.port), pki.ca])
        self.assert_native_ok(native, "0/0 TLSv1.3 b'hello from /thread-0-0\\n'",
                              "7/3 TLSv1.3 b'hello from /thread-7-3\\n'")
        self.assertEqual(len(native.stdout.splitlines()), 32, native.stdout)
        self.assert_no_shim_failure(traced)
        self.assert_no_leaked_sockets(traced)

    def test_probing_the_global_scope_with_ctypes(self):
        """dlsym(RTLD_DEFAULT)-style probing: libcurl and OpenSSL are not
        loaded, so their functions are not found; the shim's wrappers of
        them must not be found in their place (nor called)."""
        native, traced = self.identical([SYSTEM_PYTHON, real("probe_symbols.py")])
        self.assert_native_ok(native, "curl_easy_init not found", "SSL_CTX_new not found", "socket found")


@unittest.skipUnless(os.path.exists(SYSTEM_PYTHON), f"{SYSTEM_PYTHON} is not installed")
class PythonHttps(RealProgramTest):
    def test_urllib(self):
        native, traced = self.identical([SYSTEM_PYTHON, real("py_tls.py"), "urllib", https.url("/urllib"), pki.ca])
        self.assert_native_ok(native, "urllib /one: status 200 OK", "body: b'hello from /urllib/one\\n'",
                              "body: b'hello from /urllib/two\\n'",
                              "without the CA: SSLCertVerificationError")
        self.assert_no_shim_failure(traced)
        self.assert_no_leaked_sockets(traced)

    def test_requests(self):
        if not python_can_import("requests"):
            self.skipTest(f"requests is not importable by {SYSTEM_PYTHON} (Debian package python3-requests)")
        native, traced = self.identical([SYSTEM_PYTHON, real("py_tls.py"), "requests", https.url("/rq"), pki.ca])
        self.assert_native_ok(native, "get: status 200 body 'hello from /rq/requests-get\\n'",
                              "session /session-3: status 200 body 'hello from /rq/session-3\\n'",
                              "without the CA: SSLError, certificate verify failed: True")
        self.assert_no_shim_failure(traced)


@unittest.skipUnless(os.path.exists(SYSTEM_PYTHON), f"{SYSTEM_PYTHON} is not installed")
class PythonFds(RealProgramTest):
    """The children's fd listings are the point: the shim keeps no fd that
    the program or its children can see."""

    def test_subprocess_children_list_their_fds(self):
        native, traced = self.identical([SYSTEM_PYTHON, real("fd_children.py"), "spawn", str(http.port)])
        self.assert_native_ok(native, "close_fds=True| fds [0, 1, 2, 3]", "pass_fds| fds [",
                              "posix_spawn| fds [", "fstat 1024| fstat 0..1023: 0:", "ls: exit 0",
                              "response: 'HTTP/1.1 200 OK' body b'hello from /after-children\\n'")
        self.assert_no_shim_failure(traced)

    def test_closerange_then_new_sockets(self):
        native, traced = self.identical([SYSTEM_PYTHON, real("fd_children.py"), "closerange", str(http.port),
                                         str(https.port), pki.ca])
        self.assert_native_ok(native, "after closing: fds [0, 1, 2, 3]", "opened tcp=3 ",
                              "body b'hello from /after-closing\\n'", "tls socket fd 11 TLSv1.3",
                              "body b'hello from /tls-after-closing\\n'", "child: exit 0")

    def test_close_loop_up_to_rlimit(self):
        native, traced = self.identical([SYSTEM_PYTHON, real("fd_children.py"), "closeloop", str(http.port),
                                         str(https.port), pki.ca])
        self.assert_native_ok(native, "after closing: fds [0, 1, 2, 3]", "opened tcp=3 ",
                              "body b'hello from /after-closing\\n'", "tls socket fd 11 TLSv1.3",
                              "body b'hello from /tls-after-closing\\n'", "child: exit 0")


class DlopenPlugin(RealProgramTest):
    """plugin_host links neither libcurl nor OpenSSL; curl_tls_plugin.so,
    loaded RTLD_LOCAL, links both. The shim's curl_easy_init, SSL_CTX_new,
    ... must reach the plugin's libraries."""

    SOURCE = "curl_tls_plugin.c"

    def argv(self, *extra):
        return [program("plugin_host"), program("curl_tls_plugin.so"), http.url("/plugin-http"),
                https.url("/plugin-https", host="localhost"), str(https.port), pki.ca, *extra]

    def assert_plugin_output(self, native):
        self.assert_native_ok(native, "curl http: No error status 200 verify -1 body hello from /plugin-http\n",
                              "curl https: No error status 200 verify 0 body hello from /plugin-https\n",
                              "curl leaked handle: No error status 200 verify -1 body hello from /plugin-http-leak\n",
                              "load CA: 1\n", "localhost: handshake ok verify 0 (ok)\n",
                              "localhost: status line HTTP/1.1 200 OK body hello from /plugin-openssl\n",
                              "wrong.invalid: handshake failed verify 62 (hostname mismatch)\n",
                              "round 1: plugin_run returned 0\n")

    def test_plugin_identical(self):
        native, traced = self.identical(self.argv())
        self.assert_plugin_output(native)
        self.assert_no_shim_failure(traced)

    def test_plugin_dlclose_and_load_again(self):
        native, traced = self.identical(self.argv("2"))
        self.assert_plugin_output(native)
        self.assertIn("round 2: plugin_run returned 0\n", native.stdout)
        self.assert_no_shim_failure(traced)

    def test_plugin_sessions_reported(self):
        """The plugin's sessions are seen: its leaked easy handle (holding
        its keep-alive connection) and its leaked SSL_CTX are the only
        leaked sessions, at the plugin's lines; everything it freed is not."""
        traced = run_traced(self.argv(), env=NO_PROXY, timeout=TIMEOUT)
        self.assertEqual(traced.returncode, 0, traced.stdout + traced.stderr + "".join(traced.own_lines))
        self.assertIsNotNone(traced.report, "".join(traced.own_lines))
        report = traced.report
        leaked = findings(report, "leaked-session")
        self.assertEqual(sorted(i["api"] for i in instances(leaked)), ["curl_easy", "openssl_ctx"],
                         dump(report["findings"]))
        for finding in leaked:
            # Two creation sites, so two findings of one instance each.
            self.assertEqual(finding["count"], 1, dump(finding))
            self.assertEqual(finding["severity"], "error")
            api = finding["instances"][0]["api"]
            function = {"curl_easy": "make_leaked_easy", "openssl_ctx": "make_leaked_ctx"}[api]
            self.assertTrue(finding["stack"], "no stack recorded: " + dump(finding))
            top = finding["stack"][0]
            self.assertEqual(top["function"], function, dump(finding["stack"]))
            self.assertTrue((top["file"] or "").endswith(self.SOURCE), dump(finding["stack"]))
            self.assertEqual(top["line"], leak_line(self.SOURCE, function), dump(finding["stack"]))
            self.assertTrue((top["module"] or "").endswith("curl_tls_plugin.so"), dump(finding["stack"]))
        easy = [i for i in instances(leaked) if i["api"] == "curl_easy"][0]
        self.assertEqual(easy["completed_transfers"], 1, dump(easy))
        peer = f"127.0.0.1:{http.port}"
        held = [c for c in easy["connections"] if c["peer"] == peer]
        self.assertEqual(len(held), 1, dump(easy))
        self.assertEqual(held[0]["tcp_state"], "ESTABLISHED", dump(easy))
        ctx = [i for i in instances(leaked) if i["api"] == "openssl_ctx"][0]
        self.assertEqual(ctx["connections"], [], dump(ctx))
        # The one connection left open is the leaked handle's, and it says so.
        connections = instances(findings(report, "leaked-connection"))
        self.assertEqual([c["peer"] for c in connections], [peer], dump(report["findings"]))
        self.assertIsNotNone(connections[0]["session"], dump(connections[0]))
        self.assertEqual(connections[0]["session"]["api"], "curl_easy", dump(connections[0]))
        self.assertEqual(findings(report, "leaked-socket"), [], dump(report["findings"]))
        # The three easy handles were made at three different lines: no churn.
        self.assertEqual(sorted({f["kind"] for f in report["findings"]}), ["leaked-connection", "leaked-session"],
                         dump(report["findings"]))
        # 3 curl easy handles, 1 SSL_CTX, 2 SSL; libcurl's own SSL_CTX and
        # SSL (made inside curl_easy_perform) are not the program's.
        self.assertEqual(report["summary"]["sessions_created"], 6, dump(report["summary"]))


def _have(tool):
    return shutil.which(tool) is not None


def _perl_has(module):
    if not _have("perl"):
        return False
    return subprocess.run(["perl", f"-M{module}", "-e", "1"], capture_output=True, timeout=TIMEOUT).returncode == 0


class OtherClients(RealProgramTest):
    @unittest.skipUnless(_have("curl"), "curl is not installed")
    def test_curl_cli(self):
        native, traced = self.identical(
            ["curl", "-q", "-sS", "--noproxy", "*", "--cacert", pki.ca,
             "-w", "\\n%{http_code} %{ssl_verify_result} %{num_connects}\\n",
             https.url("/curl-1", host="localhost"), https.url("/curl-2", host="localhost")])
        self.assert_native_ok(native, "hello from /curl-1\n\n200 0 1\n", "hello from /curl-2\n\n200 0 0\n")
        self.assert_no_shim_failure(traced)

    @unittest.skipUnless(_have("curl"), "curl is not installed")
    def test_curl_cli_untrusted(self):
        native, traced = self.identical(
            ["curl", "-q", "-sS", "--noproxy", "*", https.url("/curl-untrusted", host="localhost")],
            env={"CURL_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"})
        self.assertEqual(native.returncode, 60, native.stderr)
        self.assertIn("SSL certificate problem", native.stderr)
        self.assert_no_shim_failure(traced)

    @unittest.skipUnless(_have("wget"), "wget is not installed")
    def test_wget(self):
        native, traced = self.identical(["wget", "-q", "--no-config", "--no-proxy", "-O", "-",
                                         f"--ca-certificate={pki.ca}", https.url("/wget", host="localhost")])
        self.assert_native_ok(native, "hello from /wget\n")
        self.assert_no_shim_failure(traced)

    @unittest.skipUnless(_have("wget"), "wget is not installed")
    def test_wget_untrusted(self):
        native, traced = self.identical(["wget", "-q", "--no-config", "--no-proxy", "-O", "-",
                                         "--ca-certificate=/etc/ssl/certs/ca-certificates.crt",
                                         https.url("/wget-untrusted", host="localhost")])
        self.assertEqual(native.returncode, 5, native.stdout + native.stderr)
        self.assert_no_shim_failure(traced)

    @unittest.skipUnless(_have("openssl"), "openssl is not installed")
    def test_openssl_s_client(self):
        native, traced = self.identical(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{https.port}", "-servername", "localhost",
             "-verify_hostname", "localhost", "-CAfile", pki.ca, "-verify_return_error", "-brief", "-quiet"],
            stdin="GET /s-client HTTP/1.0\r\nHost: localhost\r\n\r\n")
        self.assert_native_ok(native, "HTTP/1.1 200 OK", "hello from /s-client\n")
        self.assertIn("Verification: OK", native.stderr)
        self.assert_no_shim_failure(traced)

    @unittest.skipUnless(_perl_has("IO::Socket::SSL"), "IO::Socket::SSL is not installed (libio-socket-ssl-perl)")
    def test_perl_io_socket_ssl(self):
        native, traced = self.identical(["perl", real("perl_tls.pl"), "socket", str(https.port), pki.ca])
        self.assert_native_ok(native, "localhost: version TLSv1_3", "localhost: status line HTTP/1.1 200 OK",
                              "localhost: body hello from /perl-socket\n", "wrong.invalid: failed: verification failed")
        self.assert_no_shim_failure(traced)

    @unittest.skipUnless(_perl_has("IO::Socket::SSL"), "IO::Socket::SSL is not installed (libio-socket-ssl-perl)")
    def test_perl_http_tiny(self):
        native, traced = self.identical(["perl", real("perl_tls.pl"), "tiny", https.url("/perl", host="localhost"),
                                         pki.ca])
        self.assert_native_ok(native, "tiny /tiny-1: 200 OK body hello from /perl/tiny-1\n",
                              "tiny /tiny-2: 200 OK body hello from /perl/tiny-2\n")
        self.assert_no_shim_failure(traced)


if __name__ == "__main__":
    unittest.main()
