"""Programs that close everything, by every path: no finding allowed."""

import unittest

from harness import LoopbackServer, ScenarioTest, connleak_run, program


class FdNumbers(ScenarioTest):
    def test_the_program_gets_the_same_fd_numbers_as_without_connleak(self):
        import subprocess
        native = subprocess.run([program("fd_numbers")], capture_output=True, text=True, check=True)
        run = connleak_run([program("fd_numbers")])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, native.stdout)


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
