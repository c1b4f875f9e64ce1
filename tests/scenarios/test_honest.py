"""The shim says when it could not do its job: a process whose events were
lost never gets a clean report, in any format, and --error-exitcode fails
the run."""

import json
import os
import re
import subprocess
import tempfile
import unittest

from harness import CONNLEAK, ScenarioTest, connleak_run, program


class LostEvents(ScenarioTest):
    def test_full_fd_table_loses_events_and_the_report_says_so(self):
        native = subprocess.run([program("fd_limit_churn")], capture_output=True, text=True, timeout=60)
        run = connleak_run([program("fd_limit_churn")])
        self.assertEqual(run.returncode, native.returncode)
        self.assertEqual(run.stdout, native.stdout)
        self.assertIn("full after", run.stdout)
        [process] = run.report["processes"]
        self.assertGreater(process["lost_events"], 0, json.dumps(process))
        self.assertIn("INCOMPLETE", run.stderr)
        self.assertNotRegex(run.stderr, r"SUMMARY: connleak: no leaks in ")

    def test_lost_events_fail_every_format_and_the_exit_code(self):
        with tempfile.TemporaryDirectory(prefix="connleak-honest-") as work:
            traces = os.path.join(work, "traces")
            first = subprocess.run([CONNLEAK, "run", "--output-dir", traces, "--report", os.path.join(work, "r.txt"),
                                    "--", program("fd_limit_churn")], capture_output=True, text=True, timeout=60)
            self.assertEqual(first.returncode, 0, first.stderr)
            text = subprocess.run([CONNLEAK, "report", traces], capture_output=True, text=True, timeout=60)
            self.assertIn("could not be recorded", text.stdout)
            self.assertIn("INCOMPLETE", text.stdout)
            sarif = json.loads(subprocess.run([CONNLEAK, "report", "--format", "sarif", traces], capture_output=True,
                                              text=True, timeout=60).stdout)
            [invocation] = sarif["runs"][0]["invocations"]
            self.assertFalse(invocation["executionSuccessful"])
            junit = subprocess.run([CONNLEAK, "report", "--format", "junit", traces], capture_output=True, text=True,
                                   timeout=60).stdout
            self.assertIn('classname="connleak.incomplete"', junit)
            self.assertIn("<failure", junit)
            failing = subprocess.run([CONNLEAK, "report", "--error-exitcode", "3", traces], capture_output=True,
                                     text=True, timeout=60)
            self.assertEqual(failing.returncode, 3)


class UntracedChild(ScenarioTest):
    def test_a_child_that_could_not_be_traced_makes_the_report_incomplete(self):
        native = subprocess.run([program("fork_at_fd_limit")], capture_output=True, text=True, timeout=60)
        run = connleak_run([program("fork_at_fd_limit")])
        self.assertEqual(run.returncode, native.returncode)
        self.assertEqual(run.stdout, native.stdout)
        [parent] = run.report["processes"]
        self.assertEqual(parent["untraced_children"], 1, json.dumps(parent))
        self.assertIn("INCOMPLETE", run.stderr)
        self.assertIn("1 forked child left no trace", run.stderr)

    def test_a_child_whose_trace_waited_and_failed_makes_the_report_incomplete(self):
        # It inherited nothing traced, so it made its trace at its first
        # event (its socket()), which the fd limit refused: the parent's
        # Fork record says so.
        native = subprocess.run([program("lazy_fork_children"), "no-fd"], capture_output=True, text=True, timeout=60)
        run = connleak_run([program("lazy_fork_children"), "no-fd"])
        self.assertEqual((run.returncode, run.stdout), (native.returncode, native.stdout))
        self.assertIn("child socket -1", run.stdout)
        [parent] = run.report["processes"]
        self.assertEqual(parent["untraced_children"], 1, json.dumps(parent))
        self.assertIn("INCOMPLETE", run.stderr)

    def test_a_waiting_child_makes_its_trace_before_it_lowers_its_fd_limit(self):
        run = connleak_run([program("lazy_fork_children"), "rlimit"])
        self.assertEqual(run.returncode, 0, run.stderr)
        child = int(re.search(r"child (\d+) socket -1", run.stdout).group(1))
        self.assertNotIn("INCOMPLETE", run.stderr)
        self.assertIn(child, [p["pid"] for p in run.report["processes"]])

    @unittest.skipUnless(os.geteuid() == 0, "needs root to change user")
    def test_a_waiting_child_makes_its_trace_before_it_changes_user(self):
        run = connleak_run([program("lazy_fork_children"), "setuid"])
        self.assertEqual(run.returncode, 0, run.stderr)
        child = int(re.search(r"child (\d+) leaks as nobody", run.stdout).group(1))
        self.assertNotIn("INCOMPLETE", run.stderr)
        [finding] = run.findings("leaked-socket")
        self.assertEqual(finding["pids"], [child], json.dumps(finding))

    def test_a_child_without_events_leaves_no_trace_and_is_not_missing(self):
        run = connleak_run([program("lazy_fork_children")])
        self.assertEqual(run.returncode, 0, run.stderr)
        children = {kind: int(pid) for pid, kind in re.findall(r"child (\d+) (\w+)", run.stdout)}
        self.assertEqual(set(children), {"exits", "execs", "leaks", "inherits"}, run.stdout)
        self.assertNotIn("INCOMPLETE", run.stderr)
        processes = run.report["processes"]
        for process in processes:
            self.assertEqual(process["untraced_children"], 0, json.dumps(process))
        [parent] = [p for p in processes if p["pid"] not in children.values()]
        by_pid = {}
        for process in processes:
            by_pid.setdefault(process["pid"], []).append(process)
        # The child that only exited made no trace; the one that exec'd is
        # its /bin/true image alone, a child of the parent.
        self.assertNotIn(children["exits"], by_pid)
        [true_image] = by_pid[children["execs"]]
        self.assertEqual(true_image["ppid"], parent["pid"], json.dumps(true_image))
        self.assertEqual(len(by_pid[children["leaks"]]), 1)
        self.assertEqual(len(by_pid[children["inherits"]]), 1)
        [finding] = run.findings("leaked-socket")
        self.assertEqual(finding["pids"], [children["leaks"]], json.dumps(finding))
        self.assert_stack_top(finding, "leak_in_child", "lazy_fork_children.c", "leak_in_child")

    def test_every_traced_fork_child_is_accounted_for(self):
        run = connleak_run([program("fork_all_closed")])
        for process in run.report["processes"]:
            self.assertEqual(process["untraced_children"], 0, json.dumps(process))
        self.assertNotIn("INCOMPLETE", run.stderr)


class FileSizeLimit(ScenarioTest):
    def test_trace_growth_past_rlimit_fsize_does_not_kill_the_program(self):
        native = subprocess.run([program("fd_limit_churn"), "fsize"], capture_output=True, text=True, timeout=60)
        run = connleak_run([program("fd_limit_churn"), "fsize"])
        self.assertEqual(native.returncode, 0, native.stderr)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, native.stdout)


class ExecTrimsTheTraceLeftBehind(ScenarioTest):
    def test_an_image_that_execs_away_leaves_only_its_data(self):
        with tempfile.TemporaryDirectory() as work:
            traces = os.path.join(work, "traces")
            run = subprocess.run([CONNLEAK, "run", "--output-dir", traces, "--format", "json",
                                  "--report", os.path.join(work, "r.json"), "--",
                                  "/bin/sh", "-c", "exec /bin/sh -c 'exec /bin/true'"],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 0, run.stderr)
            with open(os.path.join(work, "r.json")) as f:
                report = json.load(f)
            self.assertEqual([p["end"] for p in report["processes"]], ["exec", "exec", "exit"])
            for name in os.listdir(traces):
                # The trace grows 64 KiB at a time; an image's records here
                # take a few hundred bytes: the rest was trimmed away.
                self.assertLess(os.path.getsize(os.path.join(traces, name)), 16384, name)


class RelativeOutputDir(ScenarioTest):
    def test_trace_grows_after_chdir_with_a_relative_output_dir(self):
        with tempfile.TemporaryDirectory(prefix="connleak-relative-") as work:
            os.mkdir(os.path.join(work, "traces"))
            env = {**os.environ, "LD_PRELOAD": os.path.join(os.path.dirname(CONNLEAK), os.pardir, "lib",
                                                            "libconnleak.so"),
                   "CONNLEAK_OUTPUT_DIR": "traces"}
            done = subprocess.run([program("chdir_churn")], cwd=work, env=env, capture_output=True, text=True,
                                  timeout=60)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertNotIn("warning", done.stderr)
            report = json.loads(subprocess.run([CONNLEAK, "report", "--format", "json", os.path.join(work, "traces")],
                                               capture_output=True, text=True, timeout=60).stdout)
            [process] = report["processes"]
            self.assertEqual(process["lost_events"], 0)
            self.assertEqual([f["kind"] for f in report["findings"]], ["leaked-socket"])


if __name__ == "__main__":
    unittest.main()
