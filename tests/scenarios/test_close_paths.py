"""Programs that close everything, by every path: no finding allowed."""

import unittest

from harness import LoopbackServer, ScenarioTest, connleak_run, program


class ClosePaths(ScenarioTest):
    def test_every_close_path(self):
        with LoopbackServer() as server:
            run = connleak_run([program("close_paths"), str(server.port)])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assert_no_findings(run)
        self.assertGreaterEqual(run.report["summary"]["sockets_opened"], 11)

    def test_exec_ends_cloexec_sockets(self):
        with LoopbackServer() as server:
            run = connleak_run([program("exec_after_sockets"), str(server.port)])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assert_no_findings(run)
        ends = sorted(p["end"] for p in run.report["processes"])
        self.assertEqual(ends, ["exec", "exit"])

    def test_failed_exec_keeps_tracing(self):
        with LoopbackServer() as server:
            run = connleak_run([program("exec_after_sockets"), str(server.port), "exec-fails"])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assert_no_findings(run)
        self.assertEqual([p["end"] for p in run.report["processes"]], ["exit"])


if __name__ == "__main__":
    unittest.main()
