"""fork, SIGKILL, exit statuses: the leak lands in the right process."""

import re
import unittest

from harness import LoopbackServer, ScenarioTest, connleak_run, program


class Fork(ScenarioTest):
    def test_only_the_child_leaks(self):
        with LoopbackServer() as server:
            run = connleak_run([program("fork_child_leaks"), str(server.port)])
        self.assertEqual(run.returncode, 0, run.stderr)
        child_pid = int(re.search(r"child (\d+)", run.stdout).group(1))
        self.assertEqual(len(run.findings()), 1, run.report["findings"])
        finding = run.findings("leaked-connection")[0]
        self.assertEqual(finding["pids"], [child_pid])
        self.assertEqual(finding["count"], 1)
        self.assert_stack_top(finding, "child_work", "fork_child_leaks.c", "child_work")
        self.assertEqual(len(run.report["processes"]), 2)


class SigKill(ScenarioTest):
    def test_killed_process_still_reports_its_leak(self):
        with LoopbackServer() as server:
            run = connleak_run([program("sigkill_self"), str(server.port)])
        self.assertEqual(run.returncode, 128 + 9, run.stderr)
        self.assertEqual(len(run.findings()), 1, run.report["findings"])
        finding = run.findings("leaked-connection")[0]
        self.assert_stack_top(finding, "open_and_die", "sigkill_self.c", "open_and_die")
        process = run.report["processes"][0]
        self.assertEqual(process["end"], "signal")
        self.assertEqual(process["signal"], 9)

    def test_exit_status_is_passed_through(self):
        run = connleak_run(["/bin/sh", "-c", "exit 7"])
        self.assertEqual(run.returncode, 7, run.stderr)
        self.assert_no_findings(run)


if __name__ == "__main__":
    unittest.main()
