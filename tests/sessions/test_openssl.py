"""OpenSSL sessions against a loopback TLS server: an SSL_CTX never freed,
everything freed, and an SSL never freed with its socket left open."""

import unittest

from session_harness import SessionTest, TlsServer, address, connleak_run, dump, instances, printed, program


class SslCtxLeak(SessionTest):
    """make_ctx(): SSL_CTX_new, one TLS exchange fully closed, no SSL_CTX_free."""

    @classmethod
    def setUpClass(cls):
        with TlsServer() as server:
            cls.run_ = connleak_run([program("openssl_ctx_leak"), str(server.port)])

    def setUp(self):
        self.assert_ran(self.run_, "tls ok")
        self.assertIn("pong", self.run_.stdout)

    def test_one_leaked_ctx_session_at_make_ctx(self):
        findings = self.run_.findings("leaked-session")
        sessions = instances(findings)
        self.assertEqual([s["api"] for s in sessions], ["openssl_ctx"], dump(self.run_.report["findings"]))
        finding = findings[0]
        self.assertEqual(finding["severity"], "error")
        self.assert_frame_at(finding["stack"][0], "make_ctx", "openssl_ctx_leak.c", "make_ctx", finding["stack"])
        self.assert_session_instance_shape(sessions[0])
        self.assertEqual(address(sessions[0]["handle"]), address(printed(self.run_.stdout, "ctx")[0]))
        self.assertEqual(sessions[0]["connections"], [], dump(sessions[0]))

    def test_no_leaked_connection_and_no_other_error(self):
        findings = self.run_.report["findings"]
        self.assertEqual(self.run_.findings("leaked-connection"), [], dump(findings))
        errors = [f["kind"] for f in findings if f["severity"] == "error"]
        self.assertEqual(errors, ["leaked-session"], dump(findings))


class SslFreeAll(SessionTest):
    """The same exchange, SSL_CTX_free'd too."""

    @classmethod
    def setUpClass(cls):
        with TlsServer() as server:
            cls.run_ = connleak_run([program("openssl_ctx_leak"), str(server.port), "free-all"])

    def setUp(self):
        self.assert_ran(self.run_, "tls ok")

    def test_no_findings(self):
        self.assert_no_findings(self.run_)

    def test_ctx_and_ssl_counted_as_sessions(self):
        self.assertEqual(self.run_.report["summary"]["sessions_created"], 2, dump(self.run_.report["summary"]))


class SslLeak(SessionTest):
    """open_tls(): connect, SSL_new, SSL_set_fd; neither SSL_free nor close."""

    @classmethod
    def setUpClass(cls):
        with TlsServer() as server:
            cls.run_ = connleak_run([program("openssl_ssl_leak"), str(server.port)])
        cls.peer = f"127.0.0.1:{server.port}"

    def setUp(self):
        self.assert_ran(self.run_, "tls ok")
        ssl_line = [line.split() for line in self.run_.stdout.splitlines() if line.startswith("ssl ")][0]
        self.ssl, self.fd = address(ssl_line[1]), int(ssl_line[3])

    def test_one_leaked_ssl_session_holding_the_socket(self):
        findings = self.run_.findings("leaked-session")
        sessions = instances(findings)
        self.assertEqual([s["api"] for s in sessions], ["openssl_ssl"], dump(self.run_.report["findings"]))
        session = sessions[0]
        self.assertEqual(findings[0]["severity"], "error")
        self.assert_frame_at(findings[0]["stack"][0], "open_tls", "openssl_ssl_leak.c", "open_tls",
                             findings[0]["stack"])
        self.assert_session_instance_shape(session)
        self.assertEqual(address(session["handle"]), self.ssl, dump(session))
        held = [c for c in session["connections"] if c["fd"] == self.fd]
        self.assertEqual(len(held), 1, dump(session))
        self.assertEqual(held[0]["peer"], self.peer, dump(session))

    def test_leaked_connection_names_the_ssl_session(self):
        connections = instances(self.run_.findings("leaked-connection"))
        self.assertEqual([c["fd"] for c in connections], [self.fd], dump(self.run_.report["findings"]))
        connection = connections[0]
        self.assertEqual(connection["peer"], self.peer)
        session = connection["session"]
        self.assertIsNotNone(session, dump(connection))
        self.assertEqual(session["api"], "openssl_ssl", dump(connection))
        self.assertEqual(address(session["handle"]), self.ssl, dump(connection))
        self.assert_frame_at(session, "open_tls", "openssl_ssl_leak.c", "open_tls", connection)

    def test_nothing_else(self):
        findings = self.run_.report["findings"]
        self.assertEqual(sorted(f["kind"] for f in findings), ["leaked-connection", "leaked-session"], dump(findings))


class RunsWithoutConnleak(SessionTest):
    """The programs themselves work: the TLS handshake and ping succeed."""

    def test_programs(self):
        for args in (["openssl_ctx_leak"], ["openssl_ctx_leak", "free-all"], ["openssl_ssl_leak"]):
            with self.subTest(args=args), TlsServer() as server:
                completed = self.run_direct([program(args[0]), str(server.port), *args[1:]])
                self.assertEqual(completed.returncode, 0, completed.stdout + completed.stderr)
                self.assertRegex(completed.stdout, r"tls ok TLSv1\.[23] pong")
                self.assertEqual(server.handshakes, 1)


if __name__ == "__main__":
    unittest.main()
