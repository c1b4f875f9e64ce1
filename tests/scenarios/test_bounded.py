"""Bounded traces (CONNLEAK_MAX_TRACE_SIZE): a program that leaks three
connections in its first moments and then churns through tens of thousands
more keeps its trace under the cap, and the report still has exactly the
three leaks, with their stacks, peers and bytes, and the true count of
sockets. SIGKILL at any moment, rotations included, leaves traces that
read without error."""

import json
import os
import random
import re
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from harness import CONNLEAK, ScenarioTest, leak_line, program

CAP = 2 * 1024 * 1024


def dir_bytes(path):
    """What the trace files take: the larger of their sizes and their blocks."""
    total = 0
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return 0
    for name in names:
        try:
            st = os.stat(os.path.join(path, name))
        except FileNotFoundError:
            continue  # deleted by a rotation as we looked
        total += max(st.st_size, st.st_blocks * 512)
    return total


class Sampler:
    """Samples the trace directory's size every few milliseconds."""

    def __init__(self, path):
        self.path = path
        self.peak = 0
        self.samples = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, dir_bytes(self.path))
            self.samples += 1
            time.sleep(0.005)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def run_churn(work, seconds, kill_after=None):
    traces = os.path.join(work, "traces")
    report = os.path.join(work, "report.json")
    command = [CONNLEAK, "run", "--format", "json", "--report", report, "--output-dir", traces,
               "--max-trace-size", "2M", "--", program("bounded_churn"), str(seconds)]
    with Sampler(traces) as sampler:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kill_after is not None:
            time.sleep(kill_after)
            child = child_pid(proc.pid)
            if child:
                os.kill(child, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    with open(report) as f:
        return json.load(f), out, err, sampler, traces


def child_pid(parent):
    try:
        with open(f"/proc/{parent}/task/{parent}/children") as f:
            pids = f.read().split()
    except FileNotFoundError:
        return None
    return int(pids[0]) if pids else None


class BoundedTraceTest(ScenarioTest):
    def assert_early_leaks(self, report, port, bytes_sent, killed=False):
        dump = json.dumps(report["findings"], indent=1)[:3000]
        early = [f for f in report["findings"] if f["stack"] and f["stack"][0]["function"] == "open_early"]
        self.assertEqual(len(early), 1, dump)
        self.assertEqual(early[0]["kind"], "leaked-connection")
        self.assert_stack_top(early[0], "open_early", "bounded_churn.c", "open_early")
        self.assertEqual(early[0]["count"], 3)
        for instance in early[0]["instances"]:
            self.assertEqual(instance["peer"], f"127.0.0.1:{port}")
            if bytes_sent is not None:
                self.assertEqual(instance["bytes_sent"], bytes_sent)
        others = [f for f in report["findings"] if f is not early[0]]
        if not killed:
            self.assertEqual(others, [], dump)
            return
        # Killed in the churn loop: the one socket it held then is its leak.
        self.assertLessEqual(sum(f["count"] for f in others), 1, dump)
        for f in others:
            self.assertEqual(f["stack"][0]["function"], "churn_once", dump)

    def test_leaks_of_the_first_moments_survive_many_rotations_under_the_cap(self):
        with tempfile.TemporaryDirectory(prefix="connleak-bounded-") as work:
            report, out, err, sampler, traces = run_churn(work, 4)
            port = int(re.search(r"port (\d+)", out).group(1))
            made = int(re.search(r"connections (\d+)", out).group(1))
            # Enough churn that the trace rotated many times over.
            self.assertGreater(made, 20_000, out)
            self.assertGreater(sampler.samples, 50)
            self.assertLessEqual(sampler.peak, CAP, f"trace directory peaked at {sampler.peak} bytes")
            self.assertLessEqual(dir_bytes(traces), CAP)
            segments = [n for n in os.listdir(traces) if re.fullmatch(r"connleak\.\d+\.\d+\.s(\d+)\.trace", n)]
            self.assertTrue(segments, os.listdir(traces))
            self.assertGreater(max(int(re.search(r"\.s(\d+)\.", n).group(1)) for n in segments), 5)
            self.assert_early_leaks(report, port, 15)
            self.assertEqual(report["summary"]["sockets_opened"], made)
            proc = report["processes"][0]
            self.assertIsNotNone(proc["history_summarized_before_ns"])
            self.assertGreater(proc["closed_sockets_summarized"], 10_000)
            self.assertEqual(proc["lost_events"], 0)
            # The text report says what it summarized.
            text = subprocess.run([CONNLEAK, "report", traces], capture_output=True, text=True)
            self.assertIn("was summarized by a checkpoint", text.stdout)

    def test_sigkill_at_random_moments_leaves_a_readable_trace(self):
        rng = random.Random(os.getpid())
        for run in range(6):
            delay = rng.uniform(0.3, 2.5)
            with self.subTest(run=run, delay=delay), tempfile.TemporaryDirectory(prefix="connleak-bounded-") as work:
                report, out, err, sampler, traces = run_churn(work, 10, kill_after=delay)
                self.assertNotIn("error", err.lower().replace("error-exitcode", ""), err)
                port = int(re.search(r"port (\d+)", out).group(1))
                # Killed: the last bytes may not be counted yet; the leaks are.
                self.assert_early_leaks(report, port, None, killed=True)
                self.assertLessEqual(sampler.peak, CAP)
                self.assertEqual(report["processes"][0]["end"], "signal")


if __name__ == "__main__":
    unittest.main()
