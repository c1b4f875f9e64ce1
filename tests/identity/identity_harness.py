"""Behaviour identity: runs a command natively and under the real
`connleak run`, and compares what the program showed the world.

valgrind's regression tests pair a program with its expected stdout and
stderr; here the expectation is the native run itself. Compared: stdout,
stderr without connleak's own lines, and the exit status. Programs that want
fd numbers, errno values or their /proc/self/fd listing compared print them.
"""

import dataclasses
import json
import os
import re
import signal
import subprocess
import tempfile
import unittest

CONNLEAK = os.environ["CONNLEAK"]
BIN_DIR = os.environ.get("SCENARIO_BIN_DIR", "")

# connleak's own lines on stderr: its warnings and errors, the SUMMARY line
# and where the traces went.
_OWN_LINE = re.compile(r"^(connleak(: |\[)|SUMMARY: )")


def program(name):
    return os.path.join(BIN_DIR, name)


@dataclasses.dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    report: dict = None
    own_lines: list = dataclasses.field(default_factory=list)


def _program_stderr(stderr):
    kept, own = [], []
    for line in stderr.splitlines(keepends=True):
        (own if _OWN_LINE.match(line) else kept).append(line)
    return "".join(kept), own


def _descendants(pid):
    """Every process below pid (children first found by their PPid)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _run(argv, env, timeout, stdin, cwd):
    """subprocess.run, except that on a timeout the whole process tree is
    killed (`connleak run`, the program it traces and their children), so a
    hung program cannot outlive its test. The program keeps the process
    group and session it would have had (no new session: a program may look
    at those)."""
    process = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else None,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                               env={**os.environ, **(env or {})}, cwd=cwd)
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in [process.pid, *_descendants(process.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        stdout, stderr = process.communicate()
        raise subprocess.TimeoutExpired(argv, timeout, stdout, stderr) from None
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def run_native(argv, env=None, timeout=60, stdin=None, cwd=None):
    completed = _run(argv, env, timeout, stdin, cwd)
    return Result(completed.returncode, completed.stdout, completed.stderr)


def run_traced(argv, env=None, timeout=60, stdin=None, cwd=None, options=()):
    """`connleak run` over argv, the report in JSON to a file of its own."""
    with tempfile.TemporaryDirectory(prefix="connleak-identity-") as work:
        report_path = os.path.join(work, "report.json")
        command = [CONNLEAK, "run", "--format", "json", "--report", report_path,
                   "--output-dir", os.path.join(work, "traces"), *options, "--", *argv]
        completed = _run(command, env, timeout, stdin, cwd)
        stderr, own = _program_stderr(completed.stderr)
        report = None
        if os.path.exists(report_path):
            with open(report_path) as f:
                report = json.load(f)
        return Result(completed.returncode, completed.stdout, stderr, report, own)


def exit_status(returncode):
    """A returncode as a shell shows it: 128+N for death by signal N, which
    is how `connleak run` passes on its command's death."""
    return 128 - returncode if returncode < 0 else returncode


def differences(native, traced):
    """What the traced run showed differently; empty when identical."""
    found = []
    if exit_status(native.returncode) != traced.returncode:
        found.append(f"exit status: native {native.returncode}, traced {traced.returncode}")
    if native.stdout != traced.stdout:
        found.append(f"stdout differs:\n--- native\n{native.stdout}\n--- traced\n{traced.stdout}")
    if native.stderr != traced.stderr:
        found.append(f"stderr differs:\n--- native\n{native.stderr}\n--- traced\n{traced.stderr}")
    return found


class IdentityTest(unittest.TestCase):
    maxDiff = None

    def assert_identical(self, argv, env=None, timeout=60, stdin=None, cwd=None, options=()):
        """Runs argv natively and traced; fails on any difference. Returns
        (native, traced) for further checks on the report."""
        native = run_native(argv, env=env, timeout=timeout, stdin=stdin, cwd=cwd)
        traced = run_traced(argv, env=env, timeout=timeout, stdin=stdin, cwd=cwd, options=options)
        diff = differences(native, traced)
        self.assertEqual(diff, [], "\n".join(diff) + "\nconnleak said:\n" + "".join(traced.own_lines))
        self.assertIsNotNone(traced.report, "no report; connleak said:\n" + "".join(traced.own_lines))
        if native.returncode < 0:
            # connleak's exit status cannot tell a death by signal N from
            # exit(128+N); the report can.
            root = traced.report["processes"][0]
            self.assertEqual((root.get("end"), root.get("signal")), ("signal", -native.returncode),
                             json.dumps(root))
        return native, traced

    def assert_no_shim_failure(self, traced):
        """The shim could do its job: no lost events, no warnings of its own."""
        for process in traced.report["processes"]:
            self.assertEqual(process.get("lost_events", 0), 0, json.dumps(process))
        warnings = [line for line in traced.own_lines if "warning" in line]
        self.assertEqual(warnings, [])
