"""A Python program (http.client against a loopback HTTP/1.1 server) under
connleak: the interpreter's sockets are tracked like any C program's. Python
frames are interpreter frames, so the stacks are not checked."""

import json
import os
import sys
import unittest

from harness import SRC_DIR, HttpServer, ScenarioTest, connleak_run


def http_leaks(*args):
    return [sys.executable, os.path.join(SRC_DIR, "http_leaks.py"), *args]


class PythonHttpClient(ScenarioTest):
    def test_three_unclosed_connections(self):
        with HttpServer() as server:
            run = connleak_run(http_leaks(str(server.port)))
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("requests 3 open 3", run.stdout)
        self.assertIsNotNone(run.report, run.stderr)
        findings = run.findings()
        self.assertEqual([f["kind"] for f in findings], ["leaked-connection"], json.dumps(findings, indent=1))
        finding = findings[0]
        self.assertEqual(finding["severity"], "error")
        self.assertEqual(finding["count"], 3, json.dumps(finding["instances"], indent=1))
        instances = finding["instances"]
        self.assertEqual(len(instances), 3)
        for instance in instances:
            self.assertEqual(instance["peer"], f"127.0.0.1:{server.port}")
            self.assertIsInstance(instance["bytes_sent"], int, json.dumps(instance, indent=1))
            self.assertGreater(instance["bytes_sent"], 0)

    def test_closed_connections_give_no_finding(self):
        with HttpServer() as server:
            run = connleak_run(http_leaks(str(server.port), "close"))
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("requests 3 open 0", run.stdout)
        self.assert_no_findings(run)


if __name__ == "__main__":
    unittest.main()
