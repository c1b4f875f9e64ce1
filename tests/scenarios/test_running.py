"""A process that is still running (same pid and start, no end record) is
reported as running, and what it holds is not judged as leaked at exit; the
same traces, once it has ended, give the exit-time report (DESIGN.md,
"Finding kinds")."""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

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


@contextlib.contextmanager
def preloaded(program, *args, traces):
    """Runs a Python program with the shim preloaded (no `connleak run`, which
    would wait for it); it ends when its stdin closes. Yields the process."""
    env = {**os.environ, "LD_PRELOAD": SHIM, "CONNLEAK_OUTPUT_DIR": traces}
    process = subprocess.Popen([PYTHON, "-c", program, *map(str, args)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env)
    try:
        yield process
    finally:
        process.stdin.close()
        process.wait(timeout=60)
        process.stdout.close()


def report(traces, fmt="json", options=()):
    result = subprocess.run([CONNLEAK, "report", "--format", fmt, *options, traces], capture_output=True,
                            text=True, timeout=60)
    return result, (json.loads(result.stdout) if fmt == "json" and result.returncode == 0 else None)


class Running(ScenarioTest):
    def test_a_running_process_is_judged_live_then_at_exit(self):
        with LoopbackServer() as server, tempfile.TemporaryDirectory() as work:
            traces = os.path.join(work, "traces")
            with preloaded(PROGRAM, server.port, traces=traces) as program:
                _, local_port = program.stdout.readline().split()
                result, live = report(traces)
                self.assertEqual(result.returncode, 0, result.stderr)
                [process] = live["processes"]
                self.assertEqual((process["pid"], process["end"]), (program.pid, "running"))
                self.assertEqual(live["findings"], [])
                text, _ = report(traces, "text")
                self.assertIn(f"pid {program.pid} ", text.stdout)
                self.assertIn("is still running", text.stdout)
            result, ended = report(traces)
            [process] = ended["processes"]
            self.assertEqual(process["end"], "exit")
            [finding] = ended["findings"]
            self.assertEqual(finding["kind"], "leaked-connection")
            [instance] = finding["instances"]
            self.assertEqual(instance["peer"], f"127.0.0.1:{server.port}")
            self.assertEqual(instance["local"], f"127.0.0.1:{local_port}")


# Two connections to a server that closes the first at once: that one sits
# in CLOSE_WAIT in the program, which never reads it; the other stays idle.
LIVE_PROGRAM = r"""
import os, socket, sys
dead = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
idle = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
print("ready", dead.getsockname()[1], idle.getsockname()[1], flush=True)
sys.stdin.read()
os._exit(0)
"""


class LiveFindings(ScenarioTest):
    def test_dead_and_stale_connections_of_a_running_process(self):
        with LoopbackServer(close_immediately=True) as closer, LoopbackServer() as holder, \
                tempfile.TemporaryDirectory() as work:
            traces = os.path.join(work, "traces")
            with preloaded(LIVE_PROGRAM, closer.port, holder.port, traces=traces) as program:
                _, dead_port, idle_port = program.stdout.readline().split()
                # The kernel moves the first to CLOSE_WAIT once the server's FIN arrives.
                for _ in range(500):
                    with open("/proc/net/tcp") as f:
                        if any(line.split()[1].endswith(f":{int(dead_port):04X}") and line.split()[3] == "08"
                               for line in f.readlines()[1:]):
                            break
                    time.sleep(0.01)
                # Default threshold (30 s): only the dead one.
                result, live = report(traces)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual([(f["kind"], f["severity"]) for f in live["findings"]], [("dead-connection", "error")])
                [instance] = live["findings"][0]["instances"]
                self.assertEqual((instance["peer"], instance["tcp_state"]), (f"127.0.0.1:{closer.port}", "CLOSE_WAIT"))
                self.assertEqual(instance["local"], f"127.0.0.1:{dead_port}")  # the kernel's, read live
                # A threshold below the idle time: the other one too.
                result, live = report(traces, options=("--idle-threshold", "1ms"))
                kinds = {f["kind"]: f for f in live["findings"]}
                self.assertEqual(sorted(kinds), ["dead-connection", "stale-connection"])
                [stale] = kinds["stale-connection"]["instances"]
                self.assertEqual(stale["peer"], f"127.0.0.1:{holder.port}")
                self.assertEqual(stale["local"], f"127.0.0.1:{idle_port}")
                self.assertEqual(kinds["stale-connection"]["severity"], "warning")
                result, _ = report(traces, options=("--idle-threshold", "soon"))
                self.assertNotEqual(result.returncode, 0)
                self.assertIn("expected a duration", result.stderr)
            # Ended: both are leaks at exit now.
            result, ended = report(traces)
            self.assertEqual([f["kind"] for f in ended["findings"]], ["leaked-connection"])
            self.assertEqual(ended["findings"][0]["count"], 2)
