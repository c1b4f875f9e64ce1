"""A real long-running server that leaks one connection every N requests,
checked while it serves (DESIGN.md, live findings): the leak, its idle time
and CLOSE_WAIT as dead-connection, and its growth rate within 20% of the
true rate; then checked again after it is stopped."""

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

from harness import CONNLEAK, ScenarioTest, program

SHIM = os.path.join(os.path.dirname(CONNLEAK), "..", "lib", "libconnleak.so")
LEAK_EVERY = 4
REQUEST_INTERVAL = 0.05  # 20 requests/s: 5 leaks/s, 300 per minute
SERVE_SECONDS = 12       # longer than connection-growth's 10 s minimum window


class LeakyService:
    """leaky_server under the shim, and a client that sends it requests at
    a steady rate and notes when each leaking request was answered."""

    def __init__(self, traces):
        env = {**os.environ, "LD_PRELOAD": SHIM, "CONNLEAK_OUTPUT_DIR": traces}
        self.process = subprocess.Popen([program("leaky_server"), str(LEAK_EVERY)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)
        self.port = int(self.process.stdout.readline().split()[1])
        self.leak_times = []
        self.requests = 0
        self.stopping = threading.Event()
        self.client = threading.Thread(target=self._send_requests, daemon=True)
        self.client.start()

    def _send_requests(self):
        served = 0
        while not self.stopping.is_set():
            with socket.create_connection(("127.0.0.1", self.port)) as conn:
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                conn.recv(100)
            served += 1
            self.requests = served
            if served % LEAK_EVERY == 0:
                self.leak_times.append(time.monotonic())
            time.sleep(REQUEST_INTERVAL)

    def pause(self):
        """Stops the client; returns the true leak rate per minute."""
        self.stopping.set()
        self.client.join(timeout=10)
        times = self.leak_times
        return (len(times) - 1) / (times[-1] - times[0]) * 60

    def stop(self):
        self.stopping.set()
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()


@contextlib.contextmanager
def leaky_service(traces):
    service = LeakyService(traces)
    try:
        yield service
    finally:
        service.stop()


def report(traces, *options):
    result = subprocess.run([CONNLEAK, "report", "--format", "json", *options, traces], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def by_kind(report_json):
    return {f["kind"]: f for f in report_json["findings"]}


class LiveService(ScenarioTest):
    def check_growth(self, finding, service, true_rate):
        leaks = len(service.leak_times)
        self.assertEqual(finding["severity"], "warning")
        self.assertEqual(finding["stack"][0]["function"], "handle_request")
        [instance] = finding["instances"]
        self.assertEqual(instance["open"], leaks)
        self.assertEqual(instance["opened"], service.requests)
        self.assertEqual(instance["closed"], service.requests - leaks)
        rate = instance["rate_per_minute"]
        self.assertLess(abs(rate - true_rate) / true_rate, 0.2, f"measured {rate}/min, true {true_rate}/min")
        self.assertIn(f"{leaks} connections opened here", finding["message"])

    def test_a_leaking_server_live_and_after_it_stopped(self):
        with tempfile.TemporaryDirectory() as work:
            traces = os.path.join(work, "traces")
            with leaky_service(traces) as service:
                time.sleep(SERVE_SECONDS)
                true_rate = service.pause()
                leaks = len(service.leak_times)
                time.sleep(1.5)  # the last leak idles past the threshold
                live = report(traces, "--idle-threshold", "1s")
                [process] = live["processes"]
                self.assertEqual(process["end"], "running")
                kinds = by_kind(live)
                self.assertEqual(sorted(kinds), ["connection-growth", "dead-connection"])
                dead = kinds["dead-connection"]
                self.assertEqual((dead["count"], dead["severity"]), (leaks, "error"))
                self.assertEqual(dead["stack"][0]["function"], "handle_request")
                for instance in dead["instances"]:
                    self.assertEqual(instance["tcp_state"], "CLOSE_WAIT")
                    self.assertEqual(instance["peer"].split(":")[0], "127.0.0.1")
                    self.assertGreater(instance["idle_ns"], 1_000_000_000)
                    self.assertEqual((instance["bytes_sent"] > 0, instance["bytes_received"] > 0), (True, True))
                oldest = max(i["idle_ns"] for i in dead["instances"])
                self.assertGreater(oldest, (SERVE_SECONDS - 2) * 1_000_000_000)
                self.check_growth(kinds["connection-growth"], service, true_rate)
            ended = report(traces)
            [process] = ended["processes"]
            self.assertEqual((process["end"], process["exit_status"]), ("exit", 0))
            kinds = by_kind(ended)
            self.assertEqual(sorted(kinds), ["connection-growth", "leaked-connection"])
            self.assertEqual(kinds["leaked-connection"]["count"], leaks)
            self.check_growth(kinds["connection-growth"], service, true_rate)
