"""libssh2 sessions against a real sshd on loopback (the SSH handshake):
a session per connection never freed (nor its socket closed), one session
freed, and the natural mistake of disconnect and close() without
libssh2_session_free."""

import unittest

from session_harness import SessionTest, SshServer, address, connleak_run, dump, instances, program


def sessions_printed(stdout):
    """(session address, fd) per "session <address> fd <n>" line."""
    return [(address(line.split()[1]), int(line.split()[3])) for line in stdout.splitlines()
            if line.startswith("session ")]


class PerRequest(SessionTest):
    @classmethod
    def setUpClass(cls):
        with SshServer() as server:
            cls.run_ = connleak_run([program("ssh_sessions"), str(server.port), "per-request"])
            cls.peer = f"127.0.0.1:{server.port}"

    def setUp(self):
        self.assert_ran(self.run_, "session 0x")

    def test_five_leaked_ssh_sessions_at_open_ssh_each_holding_its_socket(self):
        findings = self.run_.findings("leaked-session")
        sessions = instances(findings)
        self.assertEqual([s["api"] for s in sessions], ["libssh2"] * 5, dump(self.run_.report["findings"]))
        self.assert_frame_at(findings[0]["stack"][0], "open_ssh", "ssh_sessions.c", "open_ssh",
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
            self.assertEqual(connection["session"]["api"], "libssh2", dump(connection))
            self.assertEqual(address(connection["session"]["handle"]), owners[connection["fd"]], dump(connection))


class Reuse(SessionTest):
    @classmethod
    def setUpClass(cls):
        with SshServer() as server:
            cls.run_ = connleak_run([program("ssh_sessions"), str(server.port), "reuse"])

    def test_no_findings(self):
        self.assert_ran(self.run_, "session 0x")
        self.assert_no_findings(self.run_)
        self.assertEqual(self.run_.report["summary"]["sessions_created"], 1, dump(self.run_.report["summary"]))


class NoFree(SessionTest):
    @classmethod
    def setUpClass(cls):
        with SshServer() as server:
            cls.run_ = connleak_run([program("ssh_sessions"), str(server.port), "no-free"])

    def test_a_leaked_session_that_holds_no_connection(self):
        self.assert_ran(self.run_, "session 0x")
        sessions = instances(self.run_.findings("leaked-session"))
        self.assertEqual([(s["api"], s["connections"]) for s in sessions], [("libssh2", [])],
                         dump(self.run_.report["findings"]))
        self.assertEqual(address(sessions[0]["handle"]), sessions_printed(self.run_.stdout)[0][0])
        self.assertEqual(self.run_.findings("leaked-connection"), [], dump(self.run_.report["findings"]))


if __name__ == "__main__":
    unittest.main()
