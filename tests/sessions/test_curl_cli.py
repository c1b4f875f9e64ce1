"""The curl command-line tool under connleak, against a loopback HTTP/1.1
keep-alive server: its sessions are all cleaned up (the easy handle libcurl
makes for itself inside curl_share_setopt is not one of the program's), and
connections reused through its share handle are no churn."""

import os
import shutil
import sys
import unittest

from session_harness import HttpServer, SessionTest, connleak_run

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "identity", "real"))
from loopback_servers import HttpServer as TlsCapableServer, Pki  # noqa: E402

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

    def test_https_with_a_test_certificate(self):
        pki = Pki()
        self.addCleanup(pki.remove)
        with TlsCapableServer(tls=(pki.cert, pki.key)) as server:
            urls = [f"https://127.0.0.1:{server.port}/tls-{i}" for i in range(3)]
            outputs = [arg for _ in urls for arg in ("-o", "/dev/null")]
            run = connleak_run([CURL, "-s", "--cacert", pki.ca, "-w", "%{http_code} %{num_connects}\\n",
                                *outputs, *urls])
        self.assertEqual(run.stdout.split(), ["200", "1", "200", "0", "200", "0"], run.stderr)
        self.assert_clean(run)


if __name__ == "__main__":
    unittest.main()
