"""Socket lifetimes across fork, vfork, exec, posix_spawn, SCM_RIGHTS, raw
closes, signal handlers and signals; activity counters and TCP state; double
closes. Each test checks every finding of the report: nothing else allowed."""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import CONNLEAK, LoopbackServer, Run, ScenarioTest, connleak_run, program


def stdout_int(run, label):
    """The number printed after `label` on the program's stdout."""
    match = re.search(rf"\b{label} (\d+)", run.stdout)
    if match is None:
        raise AssertionError(f"no '{label} N' in the program's output: {run.stdout!r} {run.stderr!r}")
    return int(match.group(1))


def connleak_run_bounded(args, timeout):
    """Like harness.connleak_run, but a hang kills the whole process group
    (connleak and the traced program) and fails the test instead of hanging
    on the program's still-open pipes."""
    with tempfile.TemporaryDirectory(prefix="connleak-scenario-") as work:
        report_path = os.path.join(work, "report.json")
        command = [CONNLEAK, "run", "--format", "json", "--report", report_path,
                   "--output-dir", os.path.join(work, "traces"), "--", *args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise AssertionError(f"{args[0]} did not finish within {timeout} s under connleak (deadlock?)")
        report = None
        if os.path.exists(report_path):
            with open(report_path) as f:
                report = json.load(f)
        return Run(subprocess.CompletedProcess(command, process.returncode, stdout, stderr), report)


class ReplyServer:
    """Accepts one connection on 127.0.0.1, reads `expect` bytes, answers
    with `reply` (after `delay` seconds) and holds the connection until
    stopped."""

    def __init__(self, expect, reply, delay=0.0):
        self.expect = expect
        self.reply = reply
        self.delay = delay
        self.received = b""
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.conn = None
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        try:
            self.conn, _ = self.listener.accept()
            self.conn.settimeout(10)
            while len(self.received) < self.expect:
                chunk = self.conn.recv(self.expect - len(self.received))
                if not chunk:
                    return
                self.received += chunk
            time.sleep(self.delay)
            self.conn.sendall(self.reply)
        except OSError:
            pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.thread.join(timeout=10)
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


class LifetimeTest(ScenarioTest):
    def only_finding(self, run, kind):
        """The report's one finding, which must be of `kind`."""
        self.assertIsNotNone(run.report, run.stderr)
        findings = run.findings()
        self.assertEqual([f["kind"] for f in findings], [kind], json.dumps(findings, indent=1))
        return findings[0]

    def processes(self, run, pid):
        return [p for p in run.report["processes"] if p["pid"] == pid]

    def assert_clean_exit(self, run):
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIsNotNone(run.report, run.stderr)


class Fork(LifetimeTest):
    def test_parent_and_child_close_everything(self):
        with LoopbackServer() as server:
            run = connleak_run([program("fork_all_closed"), str(server.port)])
        self.assert_clean_exit(run)
        self.assert_no_findings(run)
        child = stdout_int(run, "child")
        processes = run.report["processes"]
        self.assertEqual(len(processes), 2, json.dumps(processes, indent=1))
        self.assertEqual([p["end"] for p in processes], ["exit", "exit"])
        self.assertEqual([p["end"] for p in self.processes(run, child)], ["exit"])

    def test_child_leaks_and_leaves_with_underscore_exit(self):
        with LoopbackServer() as server:
            run = connleak_run([program("child_exit_leaks"), str(server.port)])
        self.assert_clean_exit(run)
        child = stdout_int(run, "child")
        finding = self.only_finding(run, "leaked-connection")
        self.assertEqual(finding["severity"], "error")
        self.assertEqual(finding["count"], 1)
        self.assertEqual(finding["pids"], [child])
        self.assertEqual([i["pid"] for i in finding["instances"]], [child])
        self.assertEqual(finding["instances"][0]["peer"], f"127.0.0.1:{server.port}")
        self.assert_stack_top(finding, "child_connect", "child_exit_leaks.c", "child_connect")
        [entry] = self.processes(run, child)
        self.assertEqual(entry["end"], "exit")
        self.assertEqual(entry["exit_status"], 3)


class ChildKilledBySignal(LifetimeTest):
    def check(self, mode, signal_number):
        with LoopbackServer() as server:
            run = connleak_run([program("child_killed"), str(server.port), *mode])
        self.assert_clean_exit(run)
        child = stdout_int(run, "child")
        self.assertEqual(stdout_int(run, "signal"), signal_number)
        finding = self.only_finding(run, "leaked-connection")
        self.assertEqual(finding["count"], 1)
        self.assertEqual(finding["pids"], [child])
        self.assert_stack_top(finding, "doomed_conn", "child_killed.c", "doomed_conn")
        [entry] = self.processes(run, child)
        self.assertEqual(entry["end"], "signal", json.dumps(entry, indent=1))
        self.assertEqual(entry["signal"], signal_number)
        [parent] = [p for p in run.report["processes"] if p["pid"] != child]
        self.assertEqual(parent["end"], "exit")
        self.assertEqual(parent["exit_status"], 0)

    def test_abort(self):
        self.check([], signal.SIGABRT.value)

    def test_sigterm(self):
        self.check(["term"], signal.SIGTERM.value)


class Exec(LifetimeTest):
    def test_socket_without_cloexec_is_inherited_by_the_new_image(self):
        with LoopbackServer() as server:
            run = connleak_run([program("exec_inherits_socket"), str(server.port)])
        self.assert_clean_exit(run)
        pid = stdout_int(run, "pid")
        fd = stdout_int(run, "fd")
        finding = self.only_finding(run, "inherited-socket")
        self.assertEqual(finding["severity"], "warning")
        self.assertEqual(finding["count"], 1)
        self.assert_stack_top(finding, "open_inheritable", "exec_inherits_socket.c", "open_inheritable")
        self.assertIn("/bin/sleep", finding["message"])
        [instance] = finding["instances"]
        self.assertEqual(instance["pid"], pid)
        self.assertEqual(instance["fd"], fd)
        self.assertEqual(instance["peer"], f"127.0.0.1:{server.port}")
        # Same pid, two images: the program's (ended by exec) and sleep's.
        images = self.processes(run, pid)
        self.assertEqual(sorted(p["end"] for p in images), ["exec", "exit"], json.dumps(images, indent=1))
        self.assertEqual(len(run.report["processes"]), 2)
        self.assertEqual(run.report["summary"]["errors"], 0)
        # Opened by the program, before sleep's image started.
        sleep_image = next(p for p in images if p["end"] == "exit")
        program_image = next(p for p in images if p["end"] == "exec")
        self.assertLess(instance["opened_ns"], sleep_image["start_ns"])
        # Each image converts its monotonic times to wall-clock with its own
        # pair of clock readings: across images they agree to well under 1 ms.
        self.assertGreaterEqual(instance["opened_ns"] + 1_000_000, program_image["start_ns"])

    def test_vfork_then_exec(self):
        with LoopbackServer() as server:
            run = connleak_run([program("vfork_exec"), str(server.port)])
        self.assert_clean_exit(run)
        self.assert_no_findings(run)
        child = stdout_int(run, "child")
        processes = run.report["processes"]
        self.assertEqual(sorted(p["end"] for p in processes), ["exec", "exit", "exit"],
                         json.dumps(processes, indent=1))
        images = self.processes(run, child)
        self.assertEqual(sorted(p["end"] for p in images), ["exec", "exit"], json.dumps(processes, indent=1))
        [true_image] = [p for p in images if p["end"] == "exit"]
        self.assertTrue(true_image["exe"].endswith("/true"), true_image["exe"])

    def test_posix_spawn_file_actions(self):
        with LoopbackServer() as server:
            run = connleak_run([program("spawn_file_actions"), str(server.port)])
        self.assert_clean_exit(run)
        child = stdout_int(run, "child")
        a = stdout_int(run, "a")
        finding = self.only_finding(run, "inherited-socket")
        self.assertEqual(finding["severity"], "warning")
        self.assert_stack_top(finding, "open_a", "spawn_file_actions.c", "open_a")
        self.assertIn("/bin/sleep", finding["message"])
        # One socket; the report may list it once or once per fd it has in
        # the child (A and 10), never at B's fd.
        instances = finding["instances"]
        self.assertEqual(finding["count"], len(instances))
        self.assertTrue(instances)
        self.assertEqual({i["pid"] for i in instances}, {child})
        self.assertLessEqual({i["fd"] for i in instances}, {a, 10}, json.dumps(instances, indent=1))
        self.assertEqual(finding["pids"], [child])
        self.assertTrue(any(p["exe"].endswith("/sleep") for p in self.processes(run, child)),
                        json.dumps(run.report["processes"], indent=1))


class ScmRights(LifetimeTest):
    def test_received_socket_leaks_at_recvmsg(self):
        with LoopbackServer() as server:
            run = connleak_run([program("scm_rights"), str(server.port)])
        self.assert_clean_exit(run)
        parent = stdout_int(run, "parent")
        received = stdout_int(run, "received")
        self.assertIsNotNone(run.report, run.stderr)
        findings = run.findings()
        self.assertEqual(len(findings), 1, json.dumps(findings, indent=1))
        finding = findings[0]
        self.assertIn(finding["kind"], {"leaked-connection", "leaked-socket"})
        self.assertEqual(finding["severity"], "error")
        self.assertEqual(finding["count"], 1)
        self.assertEqual(finding["pids"], [parent])
        self.assert_stack_top(finding, "receive_fd", "scm_rights.c", "receive_fd")
        [instance] = finding["instances"]
        self.assertEqual(instance["pid"], parent)
        self.assertEqual(instance["fd"], received)
        if finding["kind"] == "leaked-connection":
            self.assertEqual(instance["peer"], f"127.0.0.1:{server.port}")


class RawClose(LifetimeTest):
    def test_raw_close_then_fd_reused(self):
        with LoopbackServer() as server:
            run = connleak_run([program("raw_close"), str(server.port), "reuse"])
        self.assert_clean_exit(run)
        self.assert_no_findings(run)

    def test_raw_close_and_nothing_after(self):
        with LoopbackServer() as server:
            run = connleak_run([program("raw_close"), str(server.port), "gone"])
        self.assert_clean_exit(run)
        self.assert_no_findings(run)


class SignalHandlerClose(LifetimeTest):
    def test_close_in_signal_handler_while_threads_churn(self):
        run = connleak_run_bounded([program("signal_close")], timeout=20)
        self.assert_clean_exit(run)
        self.assertGreaterEqual(stdout_int(run, "handler_closes"), 100, run.stdout)
        self.assert_no_findings(run)


class TcpState(LifetimeTest):
    def test_server_closed_first_gives_close_wait(self):
        with LoopbackServer(close_immediately=True) as server:
            run = connleak_run([program("server_closed_first"), str(server.port)])
        self.assert_clean_exit(run)
        self.assertIn("peer closed", run.stdout)
        finding = self.only_finding(run, "leaked-connection")
        self.assertEqual(finding["count"], 1)
        self.assert_stack_top(finding, "open_conn", "server_closed_first.c", "open_conn")
        [instance] = finding["instances"]
        self.assertEqual(instance["tcp_state"], "CLOSE_WAIT")


class Activity(LifetimeTest):
    REPLY = b"reply from the server\n"

    def test_bytes_and_idle_time_of_a_leaked_connection(self):
        with ReplyServer(expect=12, reply=self.REPLY) as server:
            run = connleak_run([program("socket_activity"), str(server.port)])
        self.assert_clean_exit(run)
        self.assertEqual(server.received, b"hello1234567")
        received = stdout_int(run, "received")
        self.assertEqual(received, len(self.REPLY))
        finding = self.only_finding(run, "leaked-connection")
        self.assertEqual(finding["count"], 1)
        self.assert_stack_top(finding, "open_conn", "socket_activity.c", "open_conn")
        [instance] = finding["instances"]
        self.assertEqual(instance["bytes_sent"], 12, json.dumps(instance, indent=1))
        self.assertEqual(instance["bytes_received"], received, json.dumps(instance, indent=1))
        self.assertIsInstance(instance["idle_ns"], int, json.dumps(instance, indent=1))
        self.assertGreaterEqual(instance["idle_ns"], 150_000_000)
        self.assertIsInstance(instance["last_io_ns"], int, json.dumps(instance, indent=1))
        # Both stamped with the coarse clock: equal within one tick.
        self.assertGreaterEqual(instance["last_io_ns"], instance["opened_ns"])
        self.assertEqual(instance["tcp_state"], "ESTABLISHED")

    def test_last_io_is_the_end_of_a_read_that_waited(self):
        # The read waits 400 ms for the reply: the stamp must be its end, not
        # the write just before it (the shim reuses a stamp only for I/O in
        # quick succession, and a read that blocked reads the clock again).
        with ReplyServer(expect=12, reply=self.REPLY, delay=0.4) as server:
            run = connleak_run([program("socket_activity"), str(server.port)])
        self.assert_clean_exit(run)
        [instance] = self.only_finding(run, "leaked-connection")["instances"]
        self.assertGreaterEqual(instance["last_io_ns"] - instance["opened_ns"], 350_000_000,
                                json.dumps(instance, indent=1))
        self.assertLess(instance["idle_ns"], 350_000_000, json.dumps(instance, indent=1))


class DoubleClose(LifetimeTest):
    def test_second_close_is_a_bad_close(self):
        run = connleak_run([program("double_close")])
        self.assert_clean_exit(run)
        fd = stdout_int(run, "fd")
        finding = self.only_finding(run, "bad-close")
        self.assertEqual(finding["severity"], "warning")
        self.assertEqual(finding["count"], 1)
        self.assert_stack_top(finding, "close_twice", "double_close.c", "close_twice")
        [instance] = finding["instances"]
        self.assertEqual(instance["fd"], fd)
        self.assertEqual(run.report["summary"]["errors"], 0)


if __name__ == "__main__":
    unittest.main()
