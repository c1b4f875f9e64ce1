"""A process that is still running (same pid and start, no end record) is
reported as running, and what it holds is not judged as leaked at exit; the
same traces, once it has ended, give the exit-time report (DESIGN.md,
"Finding kinds")."""

import json
import os
import subprocess
import sys
import tempfile

from harness import CONNLEAK, LoopbackServer, ScenarioTest

SHIM = os.path.join(os.path.dirname(CONNLEAK), "..", "lib", "libconnleak.so")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

# Connects, says so, waits for its stdin to close, then ends holding the
# connection (os._exit skips Python's own closes).
PROGRAM = r"""
import os, socket, sys
conn = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("ready", conn.getsockname()[1], flush=True)
sys.stdin.read()
os._exit(0)
"""


def report(traces, fmt="json"):
    result = subprocess.run([CONNLEAK, "report", "--format", fmt, traces], capture_output=True, text=True,
                            timeout=60)
    return result, (json.loads(result.stdout) if fmt == "json" else None)


class Running(ScenarioTest):
    def test_a_running_process_is_judged_live_then_at_exit(self):
        with LoopbackServer() as server, tempfile.TemporaryDirectory() as work:
            traces = os.path.join(work, "traces")
            env = {**os.environ, "LD_PRELOAD": SHIM, "CONNLEAK_OUTPUT_DIR": traces}
            program = subprocess.Popen([PYTHON, "-c", PROGRAM, str(server.port)], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, env=env)
            try:
                _, local_port = program.stdout.readline().split()
                result, live = report(traces)
                self.assertEqual(result.returncode, 0, result.stderr)
                [process] = live["processes"]
                self.assertEqual((process["pid"], process["end"]), (program.pid, "running"))
                self.assertEqual(live["findings"], [])
                text, _ = report(traces, "text")
                self.assertIn(f"pid {program.pid} ", text.stdout)
                self.assertIn("is still running", text.stdout)
            finally:
                program.stdin.close()
                program.wait(timeout=60)
            result, ended = report(traces)
            [process] = ended["processes"]
            self.assertEqual(process["end"], "exit")
            [finding] = ended["findings"]
            self.assertEqual(finding["kind"], "leaked-connection")
            [instance] = finding["instances"]
            self.assertEqual(instance["peer"], f"127.0.0.1:{server.port}")
            self.assertEqual(instance["local"], f"127.0.0.1:{local_port}")
