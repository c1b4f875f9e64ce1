"""A long-running libcurl client that makes a session per request and never
cleans one up (the NSURLSession pattern connleak exists for), checked while
it runs: its idle sessions still holding connections are stale-session, and
their number grows (connection-growth, by sessions)."""

import json
import os
import subprocess
import tempfile
import time
import unittest

from session_harness import HttpServer, SessionTest, program
from harness import CONNLEAK

SHIM = os.path.join(os.path.dirname(CONNLEAK), "..", "lib", "libconnleak.so")
RUN_SECONDS = 12  # past connection-growth's 10 s minimum window


class CurlSessionPerRequestLive(SessionTest):
    def test_stale_and_growing_sessions_while_it_runs(self):
        with HttpServer() as server, tempfile.TemporaryDirectory() as work:
            traces = os.path.join(work, "traces")
            env = {**os.environ, "LD_PRELOAD": SHIM, "CONNLEAK_OUTPUT_DIR": traces}
            client = subprocess.Popen([program("curl_session_loop"), server.url], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, env=env)
            try:
                self.assertEqual(client.stdout.readline().strip(), "ready")
                time.sleep(RUN_SECONDS)
                result = subprocess.run([CONNLEAK, "report", "--format", "json", "--idle-threshold", "2s", traces],
                                        capture_output=True, text=True, timeout=60)
            finally:
                client.stdin.close()
                client.wait(timeout=30)
                client.stdout.close()
            self.assertEqual(result.returncode, 0, result.stderr)
            live = json.loads(result.stdout)
            self.assertEqual(live["processes"][0]["end"], "running")
            kinds = {f["kind"]: f for f in live["findings"]}
            # The connections the stale sessions hold are idle too, and name
            # their sessions; one transfer per session is churn, as at exit.
            self.assertEqual(sorted(kinds), ["connection-growth", "session-churn", "stale-connection", "stale-session"])
            for instance in kinds["stale-connection"]["instances"]:
                self.assertEqual(instance["session"]["api"], "curl_easy")
                self.assertEqual(instance["session"]["function"], "fetch_once")
            stale = kinds["stale-session"]
            self.assertEqual(stale["stack"][0]["function"], "fetch_once")
            # Every session older than the threshold: one per 100 ms, less the last 2 s.
            self.assertGreater(stale["count"], (RUN_SECONDS - 4) * 8)
            for instance in stale["instances"]:
                self.assertEqual((instance["api"], instance["completed_transfers"]), ("curl_easy", 1))
                self.assertGreater(instance["idle_ns"], 2_000_000_000)
                [held] = instance["connections"]
                self.assertEqual(held["peer"], f"127.0.0.1:{server.port}")
            growth = kinds["connection-growth"]
            self.assertEqual(growth["stack"][0]["function"], "fetch_once")
            [site] = growth["instances"]
            self.assertEqual((site["counts"], site["api"], site["closed"]), ("sessions", "curl_easy", 0))
            self.assertGreater(site["rate_per_minute"], 300)  # ~10 per second, less the time requests take
            self.assertNotIn("leaked-session", kinds)  # judged live, not as leaked at exit


if __name__ == "__main__":
    unittest.main()
