"""libcurl sessions: easy handles created per request and never cleaned up
(leaked-session + the connections they hold + session-churn), one reused
handle (clean), and a multi handle never cleaned up."""

import unittest

from session_harness import (HttpServer, SessionTest, address, connleak_run, dump, instances, printed,
                             program)

SOURCE = "curl_per_request.c"
REQUESTS = 5


class CurlPerRequest(SessionTest):
    """fetch_user() x5: curl_easy_init, perform, never curl_easy_cleanup."""

    @classmethod
    def setUpClass(cls):
        with HttpServer() as server:
            cls.run_ = connleak_run([program("curl_per_request"), server.url])
        cls.peer = f"127.0.0.1:{server.port}"
        cls.handles = {address(h) for h in printed(cls.run_.stdout, "handle")}

    def setUp(self):
        self.assert_ran(self.run_)
        self.assertEqual(printed(self.run_.stdout, "status"), ["200"] * REQUESTS, self.run_.stdout)
        self.assertEqual(len(self.handles), REQUESTS, self.run_.stdout)

    def test_five_leaked_easy_sessions_at_fetch_user(self):
        findings = self.run_.findings("leaked-session")
        sessions = instances(findings)
        self.assertEqual(len(sessions), REQUESTS, dump(self.run_.report["findings"]))
        for finding in findings:
            self.assertEqual(finding["severity"], "error")
            self.assertEqual(finding["count"], len(finding["instances"]), dump(finding))
            self.assert_frame_at(finding["stack"][0], "fetch_user", SOURCE, "fetch_user", finding["stack"])
        for session in sessions:
            self.assert_session_instance_shape(session)
            self.assertEqual(session["api"], "curl_easy", dump(session))
            self.assertEqual(session["completed_transfers"], 1, dump(session))
            self.assertIsNotNone(session["last_transfer_ns"], dump(session))
        self.assertEqual({address(s["handle"]) for s in sessions}, self.handles, dump(sessions))

    def test_each_session_still_holds_its_keepalive_connection(self):
        sessions = instances(self.run_.findings("leaked-session"))
        self.assertEqual(len(sessions), REQUESTS, dump(self.run_.report["findings"]))
        for session in sessions:
            to_server = [c for c in session["connections"] if c["peer"] == self.peer]
            self.assertEqual(len(to_server), 1, dump(session))
            self.assertEqual(to_server[0]["tcp_state"], "ESTABLISHED", dump(session))

    def test_leaked_connections_name_their_sessions(self):
        connections = instances(self.run_.findings("leaked-connection"))
        self.assertEqual(len(connections), REQUESTS, dump(self.run_.report["findings"]))
        for connection in connections:
            self.assertEqual(connection["peer"], self.peer, dump(connection))
            session = connection["session"]
            self.assertIsNotNone(session, dump(connection))
            self.assertEqual(session["api"], "curl_easy", dump(connection))
            self.assert_frame_at(session, "fetch_user", SOURCE, "fetch_user", connection)
        held_by = {address(c["session"]["handle"]) for c in connections}
        self.assertEqual(held_by, self.handles, dump(connections))
        # The same sockets, seen from both sides: the session that a leaked
        # connection names lists that connection's fd.
        sessions = {address(s["handle"]): s for s in instances(self.run_.findings("leaked-session"))}
        for connection in connections:
            session = sessions.get(address(connection["session"]["handle"]))
            self.assertIsNotNone(session, dump(connection))
            self.assertIn(connection["fd"], [c["fd"] for c in session["connections"]], dump(session))

    def test_one_session_churn_warning_at_fetch_user(self):
        churn = self.run_.findings("session-churn")
        self.assertEqual(len(churn), 1, dump(self.run_.report["findings"]))
        finding = churn[0]
        self.assertEqual(finding["severity"], "warning")
        self.assertEqual(finding["count"], REQUESTS, dump(finding))
        self.assert_frame_at(finding["stack"][0], "fetch_user", SOURCE, "fetch_user", finding["stack"])
        self.assertIn("reus", finding["message"].lower(), finding["message"])

    def test_no_other_findings(self):
        kinds = {f["kind"] for f in self.run_.report["findings"]}
        # libcurl 7.88's wakeup socketpair (two AF_UNIX sockets per handle's
        # internal multi) must not show up as findings of its own either.
        self.assertEqual(kinds, {"leaked-session", "leaked-connection", "session-churn"},
                         dump(self.run_.report["findings"]))
        self.assertEqual(self.run_.report["summary"]["sessions_created"], REQUESTS,
                         dump(self.run_.report["summary"]))


class CurlReuse(SessionTest):
    """make_client() once, 5 performs, curl_easy_cleanup."""

    @classmethod
    def setUpClass(cls):
        with HttpServer() as server:
            cls.run_ = connleak_run([program("curl_per_request"), server.url, "reuse"])

    def setUp(self):
        self.assert_ran(self.run_)
        self.assertEqual(printed(self.run_.stdout, "status"), ["200"] * REQUESTS, self.run_.stdout)
        self.assertEqual(len(printed(self.run_.stdout, "handle")), 1, self.run_.stdout)

    def test_no_errors_and_no_churn(self):
        findings = self.run_.report["findings"]
        self.assertEqual([f for f in findings if f["severity"] == "error"], [], dump(findings))
        self.assertEqual(self.run_.findings("session-churn"), [], dump(findings))

    def test_one_session_created(self):
        self.assertEqual(self.run_.report["summary"]["sessions_created"], 1,
                         dump(self.run_.report["summary"]))


class CurlMultiLeak(SessionTest):
    """make_multi(): curl_multi_init, one transfer to completion, the easy
    handle removed and cleaned up, never curl_multi_cleanup."""

    @classmethod
    def setUpClass(cls):
        with HttpServer() as server:
            cls.run_ = connleak_run([program("curl_multi_leak"), server.url])
        cls.peer = f"127.0.0.1:{server.port}"

    def setUp(self):
        self.assert_ran(self.run_, "done 0 status 200")
        self.multi = address(printed(self.run_.stdout, "multi")[0])

    def test_one_leaked_multi_session_at_make_multi(self):
        findings = self.run_.findings("leaked-session")
        sessions = instances(findings)
        self.assertEqual([s["api"] for s in sessions], ["curl_multi"], dump(self.run_.report["findings"]))
        self.assertEqual(len(findings), 1)
        self.assertEqual(findings[0]["severity"], "error")
        self.assert_frame_at(findings[0]["stack"][0], "make_multi", "curl_multi_leak.c", "make_multi",
                             findings[0]["stack"])
        self.assert_session_instance_shape(sessions[0])
        self.assertEqual(address(sessions[0]["handle"]), self.multi, dump(sessions[0]))

    def test_no_leaked_easy_session(self):
        sessions = instances(self.run_.findings("leaked-session"))
        self.assertEqual([s for s in sessions if s["api"] == "curl_easy"], [], dump(sessions))

    def test_leaked_connections_are_held_by_the_multi(self):
        connections = instances(self.run_.findings("leaked-connection"))
        sessions = instances(self.run_.findings("leaked-session"))
        held = [c["fd"] for s in sessions if s["api"] == "curl_multi" for c in s["connections"]]
        for connection in connections:
            session = connection["session"]
            self.assertIsNotNone(session, dump(connection))
            self.assertEqual(session["api"], "curl_multi", dump(connection))
            self.assertEqual(address(session["handle"]), self.multi, dump(connection))
            self.assert_frame_at(session, "make_multi", "curl_multi_leak.c", "make_multi", connection)
            self.assertIn(connection["fd"], held, dump(sessions))


class RunsWithoutConnleak(SessionTest):
    """The programs themselves work: every request gets HTTP 200."""

    def test_per_request_and_reuse(self):
        for mode in ([], ["reuse"]):
            with self.subTest(mode=mode), HttpServer() as server:
                completed = self.run_direct([program("curl_per_request"), server.url, *mode])
                self.assertEqual(completed.returncode, 0, completed.stdout + completed.stderr)
                self.assertEqual(printed(completed.stdout, "status"), ["200"] * REQUESTS)
                self.assertEqual(len(set(printed(completed.stdout, "handle"))), 1 if mode else REQUESTS)

    def test_multi(self):
        with HttpServer() as server:
            completed = self.run_direct([program("curl_multi_leak"), server.url])
        self.assertEqual(completed.returncode, 0, completed.stdout + completed.stderr)
        self.assertIn("done 0 status 200", completed.stdout)


if __name__ == "__main__":
    unittest.main()
