"""The three programs of a database session API (pq_sessions,
mysql_sessions: per-request, reuse, failed), checked the same way against
a real server: subclasses name the program, api, server and marker."""

import unittest

from session_harness import SessionTest, address, connleak_run, dump, instances, printed, program, unused_port


class DatabaseSessions(SessionTest):
    PROGRAM = API = HANDLE_LABEL = SITE = None
    SERVER = None  # a context manager with .port
    FAILED_HOLDS_SOCKET = False  # libpq keeps the refused socket until PQfinish

    @classmethod
    def setUpClass(cls):
        if cls.PROGRAM is None:
            raise unittest.SkipTest("the shared base")
        with cls.SERVER() as server:
            cls.peer = f"127.0.0.1:{server.port}"
            cls.runs = {mode: connleak_run([program(cls.PROGRAM), str(server.port), mode])
                        for mode in ("per-request", "reuse")}
        cls.failed_port = unused_port()
        cls.runs["failed"] = connleak_run([program(cls.PROGRAM), str(cls.failed_port), "failed"])

    def leaked(self, mode):
        run = self.runs[mode]
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        findings = run.findings("leaked-session")
        self.assertEqual(len(findings), 1, dump(run.report["findings"]))
        self.assert_frame_at(findings[0]["stack"][0], self.SITE, self.PROGRAM + ".c", self.SITE, findings[0]["stack"])
        return run, instances(findings)

    def test_per_request_leaks_five_sessions_each_holding_its_connection(self):
        run, sessions = self.leaked("per-request")
        self.assertEqual([s["api"] for s in sessions], [self.API] * 5, dump(sessions))
        self.assertEqual(sorted(address(s["handle"]) for s in sessions),
                         sorted(address(h) for h in printed(run.stdout, self.HANDLE_LABEL)))
        for session in sessions:
            self.assert_session_instance_shape(session)
            self.assertEqual(session["completed_transfers"], 1, dump(session))
            self.assertEqual([(c["peer"], c["tcp_state"]) for c in session["connections"]],
                             [(self.peer, "ESTABLISHED")], dump(session))
        connections = instances(run.findings("leaked-connection"))
        self.assertEqual(len(connections), 5, dump(run.report["findings"]))
        handles = {s["handle"] for s in sessions}
        for connection in connections:
            self.assertEqual(connection["session"]["api"], self.API, dump(connection))
            self.assertIn(connection["session"]["handle"], handles, dump(connection))
        self.assertEqual(len(instances(run.findings("session-churn"))), 5, dump(run.report["findings"]))

    def test_reused_and_closed_session_gives_no_finding(self):
        run = self.runs["reuse"]
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assert_no_findings(run)
        self.assertEqual(run.report["summary"]["sessions_created"], 1, dump(run.report["summary"]))

    def test_failed_connect_never_closed_is_a_leaked_session(self):
        run, sessions = self.leaked("failed")
        self.assertIn("connect failed", run.stdout)
        self.assertEqual([(s["api"], s["completed_transfers"]) for s in sessions], [(self.API, 0)], dump(sessions))
        self.assertEqual(address(sessions[0]["handle"]), address(printed(run.stdout, self.HANDLE_LABEL)[0]))
        held = [(c["peer"], c["tcp_state"]) for c in sessions[0]["connections"]]
        expected = [(f"127.0.0.1:{self.failed_port}", "CLOSE")] if self.FAILED_HOLDS_SOCKET else []
        self.assertEqual(held, expected, dump(sessions))
