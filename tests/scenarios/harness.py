"""Runs scenario programs under the real `connleak run` and reads the JSON
report. A loopback server started here on port 0 plays the peer."""

import http.server
import json
import os
import socket
import subprocess
import tempfile
import threading
import unittest

CONNLEAK = os.environ["CONNLEAK"]
BIN_DIR = os.environ["SCENARIO_BIN_DIR"]
SRC_DIR = os.environ["SCENARIO_SRC_DIR"]


class LoopbackServer:
    """Accepts connections on 127.0.0.1 and holds them until stopped (or
    closes each at once with close_immediately=True)."""

    def __init__(self, close_immediately=False):
        self.close_immediately = close_immediately
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.held = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            if self.close_immediately:
                conn.close()
            else:
                self.held.append(conn)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.listener.close()


class _KeepAliveHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients keep the connection open

    def do_GET(self):
        body = f"hello from {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HttpServer:
    """HTTP/1.1 keep-alive server on 127.0.0.1 (port 0); GET answers 200."""

    def __enter__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/user"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class Run:
    def __init__(self, completed, report):
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.report = report

    def findings(self, kind=None):
        return [f for f in self.report["findings"] if kind is None or f["kind"] == kind]


def program(name):
    return os.path.join(BIN_DIR, name)


def leak_line(source, marker):
    """The line of `source` that carries the comment `LEAK: marker`."""
    with open(os.path.join(SRC_DIR, source)) as f:
        for number, line in enumerate(f, 1):
            if f"LEAK: {marker} " in line:
                return number
    raise AssertionError(f"no LEAK: {marker} in {source}")


def connleak_run(args, extra_options=(), timeout=60, env=None):
    """`connleak run --format json` over args; returns a Run."""
    with tempfile.TemporaryDirectory(prefix="connleak-scenario-") as work:
        report_path = os.path.join(work, "report.json")
        command = [CONNLEAK, "run", "--format", "json", "--report", report_path,
                   "--output-dir", os.path.join(work, "traces"), *extra_options, "--", *args]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                   env={**os.environ, **(env or {})})
        report = None
        if os.path.exists(report_path):
            with open(report_path) as f:
                report = json.load(f)
        return Run(completed, report)


class ScenarioTest(unittest.TestCase):
    def assert_no_findings(self, run):
        self.assertIsNotNone(run.report, run.stderr)
        self.assertEqual(run.report["findings"], [], json.dumps(run.report["findings"], indent=1))

    def assert_stack_top(self, finding, function, source, marker):
        top = finding["stack"][0]
        self.assertEqual(top["function"], function, json.dumps(finding["stack"], indent=1))
        self.assertTrue(top["file"].endswith(source), top["file"])
        self.assertEqual(top["line"], leak_line(source, marker))
