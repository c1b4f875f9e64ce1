"""hiredis contexts against a real redis-server on loopback: a context per
request never freed, one context reused and freed, and the natural mistake
of an error path that drops a context whose connect failed: hiredis 0.14
keeps the refused socket open in the context until redisFree, so that
mistake leaks the socket as well as the memory."""

import unittest

from session_harness import RedisServer, SessionTest, address, connleak_run, dump, instances, printed, program, \
    unused_port


class PerRequest(SessionTest):
    @classmethod
    def setUpClass(cls):
        with RedisServer() as server:
            cls.run_ = connleak_run([program("redis_sessions"), str(server.port), "per-request"])
            cls.peer = f"127.0.0.1:{server.port}"

    def setUp(self):
        self.assert_ran(self.run_, "reply 4")

    def test_five_leaked_hiredis_sessions_at_open_cache(self):
        findings = self.run_.findings("leaked-session")
        sessions = instances(findings)
        self.assertEqual([s["api"] for s in sessions], ["hiredis"] * 5, dump(self.run_.report["findings"]))
        self.assertEqual(len(findings), 1, dump(findings))
        self.assert_frame_at(findings[0]["stack"][0], "open_cache", "redis_sessions.c", "open_cache",
                             findings[0]["stack"])
        self.assertEqual(sorted(address(s["handle"]) for s in sessions),
                         sorted(address(h) for h in printed(self.run_.stdout, "context")))
        for session in sessions:
            self.assert_session_instance_shape(session)
            self.assertEqual(session["completed_transfers"], 1, dump(session))
            self.assertEqual([c["peer"] for c in session["connections"]], [self.peer], dump(session))

    def test_each_held_connection_names_its_session(self):
        connections = instances(self.run_.findings("leaked-connection"))
        handles = {address(s["handle"]) for s in instances(self.run_.findings("leaked-session"))}
        self.assertEqual(len(connections), 5, dump(self.run_.report["findings"]))
        for connection in connections:
            self.assertIsNotNone(connection["session"], dump(connection))
            self.assertIn(address(connection["session"]["handle"]), handles, dump(connection))
            self.assertEqual(connection["session"]["api"], "hiredis", dump(connection))


class Reuse(SessionTest):
    @classmethod
    def setUpClass(cls):
        with RedisServer() as server:
            cls.run_ = connleak_run([program("redis_sessions"), str(server.port), "reuse"])

    def test_no_findings(self):
        self.assert_ran(self.run_, "reply 4")
        self.assert_no_findings(self.run_)
        self.assertEqual(self.run_.report["summary"]["sessions_created"], 1, dump(self.run_.report["summary"]))


class FailedConnect(SessionTest):
    @classmethod
    def setUpClass(cls):
        cls.port = unused_port()
        cls.run_ = connleak_run([program("redis_sessions"), str(cls.port), "failed"])

    def test_the_dropped_context_is_a_leaked_session_holding_its_refused_socket(self):
        self.assert_ran(self.run_, "connect failed")
        findings = self.run_.findings("leaked-session")
        sessions = instances(findings)
        self.assertEqual([s["api"] for s in sessions], ["hiredis"], dump(self.run_.report["findings"]))
        self.assertEqual([(c["peer"], c["tcp_state"]) for c in sessions[0]["connections"]],
                         [(f"127.0.0.1:{self.port}", "CLOSE")], dump(sessions[0]))
        self.assertEqual(sessions[0]["completed_transfers"], 0, dump(sessions[0]))
        self.assertEqual(address(sessions[0]["handle"]), address(printed(self.run_.stdout, "context")[0]))
        self.assert_frame_at(findings[0]["stack"][0], "open_cache", "redis_sessions.c", "open_cache",
                             findings[0]["stack"])
        connections = instances(self.run_.findings("leaked-connection"))
        self.assertEqual([c["session"]["handle"] for c in connections], [sessions[0]["handle"]], dump(connections))


if __name__ == "__main__":
    unittest.main()
