"""bench_hook_cost measures what scripts/bench says it does: its "wrapped"
blocks go through the shim and its "direct" blocks do not. (Its numbers are
the benchmark's business; no timing is asserted here.)"""

import json
import os
import subprocess
import tempfile
import unittest

CONNLEAK = os.environ["CONNLEAK"]
HOOK_COST = os.environ["BENCH_HOOK_COST"]
WARMUP_BLOCKS = 10  # alternating, wrapped first: 5 of them wrapped
ROUND_TRIPS_PER_BLOCK = 1000
MESSAGE = 64


def run_traced(mode, block_pairs):
    with tempfile.TemporaryDirectory(prefix="connleak-bench-test-") as work:
        report = os.path.join(work, "report.json")
        command = [CONNLEAK, "run", "--format", "json", "--report", report,
                   "--output-dir", os.path.join(work, "traces"), "--",
                   HOOK_COST, "-w", str(WARMUP_BLOCKS), mode, str(block_pairs)]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
        with open(report) as f:
            return completed, json.load(f)


class HookCost(unittest.TestCase):
    def test_only_the_wrapped_blocks_reach_the_shim(self):
        block_pairs = 4
        completed, report = run_traced("io_socketpair", block_pairs)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertEqual(len(completed.stdout.split()), 3, completed.stdout)
        [finding] = [f for f in report["findings"] if f["kind"] == "leaked-socket"]
        self.assertEqual(len(finding["instances"]), 2, json.dumps(finding, indent=1))
        wrapped_blocks = WARMUP_BLOCKS // 2 + block_pairs
        for instance in finding["instances"]:
            expected = wrapped_blocks * ROUND_TRIPS_PER_BLOCK * MESSAGE
            self.assertEqual(instance["bytes_sent"], expected, json.dumps(instance, indent=1))
            self.assertEqual(instance["bytes_received"], expected, json.dumps(instance, indent=1))

    def test_without_the_shim_both_sides_call_libc(self):
        completed = subprocess.run([HOOK_COST, "-w", "2", "socket_close", "3"], capture_output=True,
                                   text=True, timeout=60)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        ratio, direct_ns, wrapped_ns = (float(x) for x in completed.stdout.split())
        self.assertGreater(direct_ns, 0)
        self.assertGreater(wrapped_ns, 0)
        self.assertGreater(ratio, 0)

    def test_a_bad_mode_is_a_one_line_error(self):
        completed = subprocess.run([HOOK_COST, "nonsense", "3"], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(completed.returncode, 0)
        self.assertEqual(len(completed.stderr.strip().splitlines()), 1, completed.stderr)
        self.assertIn("unknown mode", completed.stderr)


if __name__ == "__main__":
    unittest.main()
