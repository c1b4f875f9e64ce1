"""GNU wget under `connleak run`, against a static site on a loopback
HTTP/1.1 keep-alive server (and HTTPS with a test CA) the test starts.

wget keeps one persistent connection and never closes it when it exits:
its http_cleanup() frees the host name but not the socket (strace of the
native run: the connection's fd is still open at exit_group). So a wget
that ends on a kept-alive connection leaves exactly that one connection
open: one leaked-connection, to the server, still ESTABLISHED (the server
keeps idle connections for 10 s), and nothing else. A connection the
server ended (Connection: close, sent with every error status) is closed
by wget, and with --no-http-keep-alive every connection is.

wget's TLS is GnuTLS. Over HTTPS the kept connection's GnuTLS session is
left too (wget never calls gnutls_deinit for it; the session of the
connection the server ended is deinit'ed): one leaked-session of api
gnutls_session at wget's gnutls_init, holding that connection, which names
it.
"""

import os
import shutil
import unittest

from corpus_harness import CorpusTest, Pki, StaticSite, brief, connleak_run

WGET = shutil.which("wget")
PAGES = 6

pki = None


def setUpModule():
    global pki
    if WGET:
        pki = Pki()
        unittest.addModuleCleanup(pki.remove)


def make_site(root):
    """index.html links PAGES pages, each links back and to an image: a
    recursive fetch downloads 1 + 2 * PAGES files. No robots.txt: wget asks
    for it first and gets a 404 with Connection: close."""
    os.makedirs(os.path.join(root, "pages"))
    links = "".join(f'<a href="pages/page-{i}.html">page {i}</a>\n' for i in range(PAGES))
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write(f"<html><body>\n{links}</body></html>\n")
    for i in range(PAGES):
        with open(os.path.join(root, "pages", f"page-{i}.html"), "w") as f:
            f.write(f'<html><body>page {i} <a href="../index.html">up</a> <img src="image-{i}.bin"></body></html>\n')
        with open(os.path.join(root, "pages", f"image-{i}.bin"), "wb") as f:
            f.write(bytes(range(256)) * 80)


@unittest.skipUnless(WGET, "wget is not installed (Debian package wget)")
class Wget(CorpusTest):
    def setUp(self):
        self.site = self.temp_dir("wget-site")
        make_site(self.site)
        self.out = self.temp_dir("wget-out")

    def wget(self, *args):
        run = connleak_run([WGET, "--no-config", "--no-proxy", "--tries=1", "--timeout=20", "-nv",
                            "-P", self.out, *args])
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assert_complete(run)
        self.assert_exited(run, count=1)
        return run

    def downloaded(self):
        found = []
        for directory, _, files in os.walk(self.out):
            found += [os.path.relpath(os.path.join(directory, name), self.out) for name in files]
        return sorted(found)

    def assert_kept_connection_left_open(self, run, server, tls=False):
        """The one finding: wget's persistent connection, open at its exit
        (over TLS, with its GnuTLS session)."""
        self.assert_findings(run, [("leaked-connection", "error", 1)] + ([("leaked-session", "error", 1)] if tls else []))
        finding = run.findings("leaked-connection")[0]
        details = brief(run.report["findings"])
        wget_pid = run.report["processes"][0]["pid"]
        instance = finding["instances"][0]
        self.assertEqual((instance["pid"], instance["family"], instance["protocol"], instance["peer"],
                          instance["tcp_state"], instance["inherited"], instance["session"]),
                         (wget_pid, "inet", "tcp", f"127.0.0.1:{server.port}", "ESTABLISHED", False,
                          instance["session"] if tls else None), details)
        if tls:
            session = run.findings("leaked-session")[0]
            held = session["instances"][0]
            self.assertEqual((held["api"], [c["fd"] for c in held["connections"]]), ("gnutls_session", [instance["fd"]]),
                             details)
            self.assertEqual((instance["session"]["api"], instance["session"]["handle"]),
                             ("gnutls_session", held["handle"]), details)
            self.assertEqual(session["stack"][0]["module"], os.path.realpath(WGET), details)
        self.assertGreater(instance["bytes_received"], 0, details)
        self.assertEqual(finding["stack"][0]["module"], os.path.realpath(WGET), details)
        self.assertIn(f"to 127.0.0.1:{server.port}", finding["message"], details)

    def test_urls_over_one_kept_alive_connection(self):
        with StaticSite(self.site) as server:
            run = self.wget(*(server.url(f"/pages/page-{i}.html") for i in range(3)))
            self.assertEqual(server.connections, 1)
        self.assertEqual(self.downloaded(), [f"page-{i}.html" for i in range(3)])
        self.assert_kept_connection_left_open(run, server)
        self.assertEqual(run.report["summary"]["sockets_opened"], 1)

    def test_without_keep_alive(self):
        with StaticSite(self.site) as server:
            run = self.wget("--no-http-keep-alive", *(server.url(f"/pages/page-{i}.html") for i in range(3)))
            self.assertEqual(server.connections, 3)
        self.assertEqual(self.downloaded(), [f"page-{i}.html" for i in range(3)])
        self.assert_no_findings(run)
        self.assertEqual(run.report["summary"]["sockets_opened"], 3)

    def recursive(self, server, *extra):
        run = self.wget("-r", "-l", "2", "-np", "-nH", *extra, server.url("/index.html"))
        expected = ["index.html"] + sorted(f"pages/{kind}-{i}.{ext}" for i in range(PAGES)
                                           for kind, ext in (("page", "html"), ("image", "bin")))
        self.assertEqual(self.downloaded(), sorted(expected))
        # robots.txt's 404 ended the first connection; the second served
        # everything else.
        self.assertEqual(server.connections, 2)
        self.assertEqual(run.report["summary"]["sockets_opened"], 2)
        return run

    def test_recursive_http(self):
        with StaticSite(self.site) as server:
            run = self.recursive(server)
        self.assert_kept_connection_left_open(run, server)

    def test_recursive_https(self):
        with StaticSite(self.site, tls=(pki.cert, pki.key)) as server:
            run = self.recursive(server, f"--ca-certificate={pki.ca}")
        self.assert_kept_connection_left_open(run, server, tls=True)
        self.assertEqual(run.report["summary"]["sessions_created"], 2, brief(run.report["findings"]))


if __name__ == "__main__":
    unittest.main()
