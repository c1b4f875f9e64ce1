"""Processes the command leaves running (a double-forking daemon): `run` is
their subreaper and waits for them before it reports; a stop signal after the
command has exited, or --descendant-timeout, ends the wait and names the ones
still running."""

import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import unittest

from harness import CONNLEAK, LoopbackServer, ScenarioTest, connleak_run, program

DAEMON = "double_fork_daemon"
DAEMON_COMM = DAEMON[:15]  # the kernel keeps 15 characters of a process name


def stop_daemon(pid):
    """Ends a daemon a test left running, if that pid is still one."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            if f.read().strip() != DAEMON_COMM:
                return
        os.kill(pid, signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError):
        pass


class DoubleForkDaemon(ScenarioTest):
    def test_grandchild_leak_is_reported_after_the_command_exits(self):
        with LoopbackServer() as server:
            run = connleak_run([program(DAEMON), str(server.port), "leak"])
        # The parent's status, not the child's (4) or the daemon's (5).
        self.assertEqual(run.returncode, 0, run.stderr)
        grandchild = int(re.search(r"grandchild (\d+)", run.stdout).group(1))
        self.assertEqual(len(run.findings()), 1, run.report["findings"])
        finding = run.findings("leaked-connection")[0]
        self.assertEqual(finding["pids"], [grandchild])
        self.assertEqual(finding["instances"][0]["peer"], f"127.0.0.1:{server.port}")
        self.assert_stack_top(finding, "daemon_work", f"{DAEMON}.c", "daemon_work")
        ended = {p["pid"]: p for p in run.report["processes"]}
        self.assertEqual(ended[grandchild]["end"], "exit")
        self.assertEqual(ended[grandchild]["exit_status"], 5)
        self.assertEqual(len(ended), 3)  # parent, child, daemon
        self.assertNotIn("still running", run.stderr)


class NeverEndingDaemon(ScenarioTest):
    def start(self, work):
        """connleak run on the forever daemon, its stderr read line by line
        by `reader` into `lines`; returns (process, reader, lines, waiting)
        where `waiting` is set once connleak says it waits for what the
        command left running."""
        command = [CONNLEAK, "run", "--format", "json", "--report", os.path.join(work, "report.json"),
                   "--output-dir", os.path.join(work, "traces"), "--", program(DAEMON), "-", "forever"]
        stdout = open(os.path.join(work, "stdout"), "w")
        self.addCleanup(stdout.close)
        proc = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        lines, waiting = [], threading.Event()

        def read():
            for line in proc.stderr:
                lines.append(line)
                if "waiting for" in line:
                    waiting.set()
            waiting.set()  # connleak ended without the line: the test says so

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        self.addCleanup(reader.join, 10)
        return proc, reader, lines, waiting

    def daemon_pid(self, work):
        with open(os.path.join(work, "stdout")) as f:
            pid = int(re.search(r"grandchild (\d+)", f.read()).group(1))
        self.addCleanup(stop_daemon, pid)
        return pid

    def report(self, work):
        with open(os.path.join(work, "report.json")) as f:
            return json.load(f)

    def test_sigint_after_the_command_exits_stops_the_wait(self):
        with tempfile.TemporaryDirectory(prefix="connleak-scenario-") as work:
            proc, reader, lines, waiting = self.start(work)
            self.assertTrue(waiting.wait(60), "".join(lines))
            daemon = self.daemon_pid(work)
            self.assertIsNone(proc.poll(), "".join(lines))
            self.assertRegex("".join(lines), rf"waiting for .*pid {daemon} \({DAEMON_COMM}\)")
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(timeout=60), 0, "".join(lines))  # the parent's status
            reader.join(60)
            stderr = "".join(lines)
            self.assertRegex(stderr, rf"stopped waiting on SIGINT with .*pid {daemon} \({DAEMON_COMM}\)")
            self.assertIn("findings are incomplete", stderr)
            # Still there: connleak signals nobody but the command.
            self.assertTrue(os.path.exists(f"/proc/{daemon}"))
            report = self.report(work)
            self.assertIn(daemon, [p["pid"] for p in report["processes"]])

    def test_descendant_timeout_bounds_the_wait(self):
        run = connleak_run([program(DAEMON), "-", "forever"], extra_options=["--descendant-timeout", "200ms"])
        daemon = int(re.search(r"grandchild (\d+)", run.stdout).group(1))
        self.addCleanup(stop_daemon, daemon)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertRegex(run.stderr, rf"stopped waiting after --descendant-timeout 200ms with .*"
                                     rf"pid {daemon} \({DAEMON_COMM}\)")
        self.assertIn(daemon, [p["pid"] for p in run.report["processes"]])

    def test_descendant_timeout_must_be_a_duration(self):
        completed = subprocess.run([CONNLEAK, "run", "--descendant-timeout", "soon", "--", "/bin/true"],
                                   capture_output=True, text=True, timeout=60)
        self.assertEqual(completed.returncode, 2, completed.stderr)
        self.assertIn("expected a duration", completed.stderr)


if __name__ == "__main__":
    unittest.main()
