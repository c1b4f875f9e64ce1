"""connleak in CI: one report over a whole ctest run of 50 programs, the
--error-exitcode, suppressions and baselines, as a CI job would use them."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scenarios"))
from harness import CONNLEAK, LoopbackServer, program  # noqa: E402

SUITE_SIZE = 50
LEAKING_TEST = 17


class CtestSuite(unittest.TestCase):
    """50 small test executables under ctest -j2; test 17 leaks."""

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="connleak-ci-")
        cls.server = LoopbackServer().__enter__()
        lines = []
        for i in range(SUITE_SIZE):
            exe = os.path.join(cls.work, f"test_{i:02d}")
            shutil.copy(program("three_connects"), exe)
            args = [str(cls.server.port)] + ([] if i == LEAKING_TEST else ["close-all"])
            lines.append(f'add_test(test_{i:02d} "{exe}" {" ".join(args)})')
        with open(os.path.join(cls.work, "CTestTestfile.cmake"), "w") as f:
            f.write("\n".join(lines) + "\n")

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.work)

    def run_suite(self, *options):
        report = os.path.join(self.work, "report.json")
        command = [CONNLEAK, "run", "--format", "json", "--report", report,
                   "--output-dir", tempfile.mkdtemp(dir=self.work), *options, "--", "ctest", "-j2", "-Q"]
        result = subprocess.run(command, cwd=self.work, capture_output=True, text=True, timeout=300)
        with open(report) as f:
            return result, json.load(f)

    def test_one_report_grouped_across_processes(self):
        result, report = self.run_suite("--error-exitcode", "23")
        self.assertEqual(result.returncode, 23, result.stderr)
        errors = [f for f in report["findings"] if f["severity"] == "error"]
        self.assertEqual(len(errors), 1, json.dumps(errors, indent=1)[:3000])
        self.assertEqual(errors[0]["kind"], "leaked-connection")
        self.assertEqual(errors[0]["executables"], [os.path.join(self.work, f"test_{LEAKING_TEST:02d}")])
        self.assertGreaterEqual(report["summary"]["processes"], SUITE_SIZE + 1)
        self.assertIn("SUMMARY: connleak: 1 leaked-connection (2 instances)", result.stderr)

    def test_suppressed_leak_gives_ctests_status(self):
        supp = os.path.join(self.work, "connleak.supp")
        with open(supp, "w") as f:
            f.write("# known leak, tracked elsewhere\nleaked-connection:open_conn\n")
        result, report = self.run_suite("--error-exitcode", "23", "--suppressions", supp)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual([f for f in report["findings"] if f["severity"] == "error"], [])
        self.assertEqual(report["suppressions"], [
            {"rule": "leaked-connection:open_conn", "location": f"{supp}:2", "matched": 2}])

    def test_baseline_with_the_leak_passes(self):
        _, baseline = self.run_suite()
        baseline_path = os.path.join(self.work, "baseline.json")
        with open(baseline_path, "w") as f:
            json.dump(baseline, f)
        result, report = self.run_suite("--error-exitcode", "23", "--baseline", baseline_path)
        self.assertEqual(result.returncode, 0, result.stderr)
        states = {f["baseline_state"] for f in report["findings"]}
        self.assertEqual(states, {"unchanged"})
        self.assertIn("still present", result.stderr)


class BadOptions(unittest.TestCase):
    def test_suppressions_syntax_error_names_file_and_line(self):
        with tempfile.TemporaryDirectory() as work:
            supp = os.path.join(work, "bad.supp")
            with open(supp, "w") as f:
                f.write("leak:fine\n\nleaked-sockets:typo_in_kind\n")
            result = subprocess.run([CONNLEAK, "run", "--suppressions", supp, "--", "/bin/true"],
                                    capture_output=True, text=True, timeout=60)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn(f"{supp}:3:", result.stderr)
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)

    def test_baseline_that_is_no_report(self):
        with tempfile.TemporaryDirectory() as work:
            path = os.path.join(work, "old.json")
            with open(path, "w") as f:
                f.write("{\"something\": 1}")
            result = subprocess.run([CONNLEAK, "run", "--baseline", path, "--", "/bin/true"],
                                    capture_output=True, text=True, timeout=60)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn(path, result.stderr)


if __name__ == "__main__":
    unittest.main()
