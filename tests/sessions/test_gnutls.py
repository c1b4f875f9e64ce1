"""GnuTLS sessions against a loopback TLS server: a session per exchange
never deinit'ed (nor its socket closed), one session reused and
deinit'ed, and the natural mistake of gnutls_bye and close() without
gnutls_deinit."""

import unittest

from session_harness import SessionTest, TlsServer, address, connleak_run, dump, instances, program


def sessions_printed(stdout):
    """(session address, fd) per "session <address> fd <n>" line."""
    return [(address(line.split()[1]), int(line.split()[3])) for line in stdout.splitlines()
            if line.startswith("session ")]


class PerRequest(SessionTest):
    @classmethod
    def setUpClass(cls):
        with TlsServer() as server:
            cls.run_ = connleak_run([program("gnutls_sessions"), str(server.port), "per-request"])
            cls.peer = f"127.0.0.1:{server.port}"

    def setUp(self):
        self.assert_ran(self.run_, "tls ok pong")

    def test_five_leaked_gnutls_sessions_at_open_tls_each_holding_its_socket(self):
        findings = self.run_.findings("leaked-session")
        sessions = instances(findings)
        self.assertEqual([s["api"] for s in sessions], ["gnutls_session"] * 5, dump(self.run_.report["findings"]))
        self.assert_frame_at(findings[0]["stack"][0], "open_tls", "gnutls_sessions.c", "open_tls",
                             findings[0]["stack"])
        expected = sorted(sessions_printed(self.run_.stdout))
        self.assertEqual(len(expected), 5, self.run_.stdout)
        held = sorted((address(s["handle"]), [c["fd"] for c in s["connections"]]) for s in sessions)
        self.assertEqual(held, [(handle, [fd]) for handle, fd in expected], dump(sessions))
        for session in sessions:
            self.assert_session_instance_shape(session)
            self.assertEqual(session["connections"][0]["peer"], self.peer, dump(session))

    def test_each_held_connection_names_its_session(self):
        connections = instances(self.run_.findings("leaked-connection"))
        self.assertEqual(len(connections), 5, dump(self.run_.report["findings"]))
        owners = {fd: handle for handle, fd in sessions_printed(self.run_.stdout)}
        for connection in connections:
            self.assertEqual(connection["session"]["api"], "gnutls_session", dump(connection))
            self.assertEqual(address(connection["session"]["handle"]), owners[connection["fd"]], dump(connection))


class Reuse(SessionTest):
    @classmethod
    def setUpClass(cls):
        with TlsServer() as server:
            cls.run_ = connleak_run([program("gnutls_sessions"), str(server.port), "reuse"])

    def test_no_findings(self):
        self.assert_ran(self.run_, "tls ok pong")
        self.assert_no_findings(self.run_)
        self.assertEqual(self.run_.report["summary"]["sessions_created"], 1, dump(self.run_.report["summary"]))


class NoDeinit(SessionTest):
    @classmethod
    def setUpClass(cls):
        with TlsServer() as server:
            cls.run_ = connleak_run([program("gnutls_sessions"), str(server.port), "no-deinit"])

    def test_a_leaked_session_that_holds_no_connection(self):
        self.assert_ran(self.run_, "tls ok pong")
        sessions = instances(self.run_.findings("leaked-session"))
        self.assertEqual([(s["api"], s["connections"]) for s in sessions], [("gnutls_session", [])],
                         dump(self.run_.report["findings"]))
        self.assertEqual(address(sessions[0]["handle"]), sessions_printed(self.run_.stdout)[0][0])
        self.assertEqual(self.run_.findings("leaked-connection"), [], dump(self.run_.report["findings"]))


if __name__ == "__main__":
    unittest.main()
