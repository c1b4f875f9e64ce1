"""The connleak.h annotations: a program's own "pool" session type, traced
(one pool never freed) and run without the shim (the weak symbols absent)."""

import unittest

from session_harness import EchoServer, SessionTest, address, connleak_run, dump, instances, printed, program

SOURCE = "user_pool.c"
EXPECTED_REPLIES = ["request 1", "request 2", "request 3", "request 1", "request 2"]


def replies(stdout):
    return [line[len("reply "):] for line in stdout.splitlines() if line.startswith("reply ")]


class UserPool(SessionTest):
    @classmethod
    def setUpClass(cls):
        with EchoServer() as server:
            cls.run_ = connleak_run([program("user_pool"), str(server.port)])
        cls.peer = f"127.0.0.1:{server.port}"

    def setUp(self):
        self.assert_ran(self.run_, "pools 2 freed 1")
        self.assertEqual(replies(self.run_.stdout), EXPECTED_REPLIES, self.run_.stdout)
        self.kept, self.leaked = (address(p) for p in printed(self.run_.stdout, "pool"))

    def test_one_leaked_user_session_at_pool_new(self):
        findings = self.run_.findings("leaked-session")
        sessions = instances(findings)
        self.assertEqual([s["api"] for s in sessions], ["user:pool"], dump(self.run_.report["findings"]))
        self.assertEqual(findings[0]["severity"], "error")
        self.assert_frame_at(findings[0]["stack"][0], "pool_new", SOURCE, "pool_new", findings[0]["stack"])
        session = sessions[0]
        self.assert_session_instance_shape(session)
        self.assertEqual(address(session["handle"]), self.leaked, dump(session))
        self.assertEqual(session["completed_transfers"], 2, dump(session))

    def test_the_unfreed_pools_socket_leaks(self):
        connections = instances(self.run_.findings("leaked-connection"))
        self.assertEqual([c["peer"] for c in connections], [self.peer], dump(self.run_.report["findings"]))

    def test_no_churn_and_nothing_else(self):
        kinds = sorted(f["kind"] for f in self.run_.report["findings"])
        self.assertEqual(kinds, ["leaked-connection", "leaked-session"], dump(self.run_.report["findings"]))
        self.assertEqual(self.run_.report["summary"]["sessions_created"], 2, dump(self.run_.report["summary"]))


class UserPoolWithoutConnleak(SessionTest):
    def test_annotations_do_nothing_without_the_shim(self):
        with EchoServer() as server:
            completed = self.run_direct([program("user_pool"), str(server.port)])
        self.assertEqual(completed.returncode, 0, completed.stdout + completed.stderr)
        self.assertEqual(replies(completed.stdout), EXPECTED_REPLIES, completed.stdout)
        self.assertIn("pools 2 freed 1", completed.stdout)


if __name__ == "__main__":
    unittest.main()
