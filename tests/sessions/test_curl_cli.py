"""The curl command-line tool under connleak, against a loopback HTTP/1.1
keep-alive server: its sessions are all cleaned up (the easy handle libcurl
makes for itself inside curl_share_setopt is not one of the program's), and
connections reused through its share handle are no churn."""

import shutil
import unittest

from session_harness import HttpServer, SessionTest, connleak_run

CURL = shutil.which("curl")


@unittest.skipUnless(CURL, "the curl CLI is not installed (Debian package curl)")
class CurlCli(SessionTest):
    def run_curl(self, *options):
        with HttpServer() as server:
            urls = [f"{server.url}-{i}" for i in range(4)]
            outputs = [arg for _ in urls for arg in ("-o", "/dev/null")]
            return connleak_run([CURL, "-s", "-w", "%{num_connects}\\n", *options, *outputs, *urls])

    def assert_clean(self, run):
        self.assertEqual(run.returncode, 0, run.stderr)
        findings = [(f["kind"], f["message"]) for f in run.report["findings"]]
        self.assertEqual(findings, [])

    def test_several_urls_with_keep_alive(self):
        run = self.run_curl()
        self.assertEqual(run.stdout.split(), ["1", "0", "0", "0"])  # one connection, reused
        self.assert_clean(run)
        self.assertGreaterEqual(run.report["summary"]["sessions_created"], 4)

    def test_parallel(self):
        self.assert_clean(self.run_curl("--parallel", "--parallel-max", "2"))


if __name__ == "__main__":
    unittest.main()
