"""The three programs of a session API whose socket the program hands to
it (gnutls_sessions, ssh_sessions: per-request, reuse, and the mistake of
closing the socket without freeing the session), checked the same way
against a real server: subclasses name the program, api, server, site, the
mistake's mode and a line every successful run prints."""

import unittest

from session_harness import SessionTest, address, connleak_run, dump, instances, program


def sessions_printed(stdout):
    """(session address, fd) per "session <address> fd <n>" line."""
    return [(address(line.split()[1]), int(line.split()[3])) for line in stdout.splitlines()
            if line.startswith("session ")]


class HandedSocketSessions(SessionTest):
    PROGRAM = API = SITE = MISTAKE = PRINTED = SERVER = None

    @classmethod
    def setUpClass(cls):
        if cls.PROGRAM is None:
            raise unittest.SkipTest("the shared base")
        with cls.SERVER() as server:
            cls.peer = f"127.0.0.1:{server.port}"
            cls.runs = {mode: connleak_run([program(cls.PROGRAM), str(server.port), mode])
                        for mode in ("per-request", "reuse", cls.MISTAKE)}

    def ran(self, mode):
        run = self.runs[mode]
        self.assert_ran(run, self.PRINTED)
        return run

    def test_per_request_leaks_five_sessions_at_the_site_each_holding_its_socket(self):
        run = self.ran("per-request")
        findings = run.findings("leaked-session")
        sessions = instances(findings)
        self.assertEqual([s["api"] for s in sessions], [self.API] * 5, dump(run.report["findings"]))
        self.assert_frame_at(findings[0]["stack"][0], self.SITE, self.PROGRAM + ".c", self.SITE, findings[0]["stack"])
        expected = sorted(sessions_printed(run.stdout))
        self.assertEqual(len(expected), 5, run.stdout)
        held = sorted((address(s["handle"]), [c["fd"] for c in s["connections"]]) for s in sessions)
        self.assertEqual(held, [(handle, [fd]) for handle, fd in expected], dump(sessions))
        for session in sessions:
            self.assert_session_instance_shape(session)
            self.assertEqual(session["connections"][0]["peer"], self.peer, dump(session))

    def test_per_request_connections_name_their_sessions(self):
        run = self.ran("per-request")
        connections = instances(run.findings("leaked-connection"))
        self.assertEqual(len(connections), 5, dump(run.report["findings"]))
        owners = {fd: handle for handle, fd in sessions_printed(run.stdout)}
        for connection in connections:
            self.assertEqual(connection["session"]["api"], self.API, dump(connection))
            self.assertEqual(address(connection["session"]["handle"]), owners[connection["fd"]], dump(connection))

    def test_reused_and_freed_session_gives_no_finding(self):
        run = self.ran("reuse")
        self.assert_no_findings(run)
        self.assertEqual(run.report["summary"]["sessions_created"], 1, dump(run.report["summary"]))

    def test_socket_closed_but_session_not_freed_is_a_leaked_session_holding_nothing(self):
        run = self.ran(self.MISTAKE)
        sessions = instances(run.findings("leaked-session"))
        self.assertEqual([(s["api"], s["connections"]) for s in sessions], [(self.API, [])],
                         dump(run.report["findings"]))
        self.assertEqual(address(sessions[0]["handle"]), sessions_printed(run.stdout)[0][0])
        self.assertEqual(run.findings("leaked-connection"), [], dump(run.report["findings"]))
