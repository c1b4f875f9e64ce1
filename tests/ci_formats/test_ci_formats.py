"""The CI report formats, checked by their real consumers: the official
SARIF validator (with GitHub's ingestion rules) and a JUnit parser."""

import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scenarios"))
from harness import CONNLEAK, LoopbackServer, program  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def run_with_format(work, fmt, *args):
    out = os.path.join(work, f"report.{fmt}")
    subprocess.run([CONNLEAK, "run", "--format", fmt, "--report", out, "--source-root", SOURCE_ROOT,
                    "--output-dir", tempfile.mkdtemp(dir=work), "--", *args],
                   check=True, capture_output=True, timeout=120)
    return out


class CiFormats(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="connleak-formats-")

    def leak_examples(self):
        """Programs with errors and warnings of several kinds."""
        with LoopbackServer() as server:
            yield [program("three_connects"), str(server.port)]
            yield [program("exec_inherits_socket"), str(server.port)]
            yield [program("double_close")]
        yield [program("unconnected_sockets")]

    def test_sarif_passes_the_official_validator(self):
        for args in self.leak_examples():
            with self.subTest(program=os.path.basename(args[0])):
                sarif = run_with_format(self.work, "sarif", *args)
                result = subprocess.run(["bash", os.path.join(HERE, "validate_sarif.sh"), sarif],
                                        capture_output=True, text=True, timeout=600)
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_junit_parses_with_one_failure_per_error_site(self):
        with LoopbackServer() as server:
            xml = run_with_format(self.work, "junit", program("three_connects"), str(server.port))
        result = subprocess.run([sys.executable, os.path.join(HERE, "check_junit.py"), xml, "1"],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_junit_without_leaks_has_a_passing_case(self):
        xml = run_with_format(self.work, "junit", "/bin/true")
        result = subprocess.run([sys.executable, os.path.join(HERE, "check_junit.py"), xml, "0"],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


if __name__ == "__main__":
    unittest.main()
