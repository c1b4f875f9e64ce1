"""Fork: a child starts with exactly its parent's sockets at its fork, and a
socket several processes share is leaked only by the one that held it last
(DESIGN.md, "Fork")."""

import collections
import os
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

from harness import CONNLEAK, ScenarioTest, connleak_run, program, Run

import json


def run_server(server_command, clients=4):
    """Runs a server that prints its port, under `connleak run`; connects
    `clients` times in a row, reading the answer each time. Returns the Run
    and the clients' own ports."""
    with tempfile.TemporaryDirectory(prefix="connleak-fork-") as work:
        report = os.path.join(work, "report.json")
        command = [CONNLEAK, "run", "--format", "json", "--report", report,
                   "--output-dir", os.path.join(work, "traces"), "--", *server_command]
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        port = int(server.stdout.readline())
        client_ports = []
        for _ in range(clients):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
                client_ports.append(client.getsockname()[1])
                client.recv(16)
        stdout, stderr = server.communicate(timeout=60)
        with open(report) as f:
            return Run(subprocess.CompletedProcess(command, server.returncode, stdout, stderr), json.load(f)), \
                client_ports


PYTHON_SERVER = r"""
import os, socket, socketserver, sys, time
class Answer(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"hi\n")
        if sys.argv[2] == "exit-holding":
            # Ends holding its connection, once the parent has closed its
            # copy (ending first would leave the parent's close the last).
            own = f"socket:[{os.fstat(self.request.fileno()).st_ino}]"
            parent_fds = f"/proc/{os.getppid()}/fd"
            def parent_holds():
                for fd in os.listdir(parent_fds):
                    try:
                        if os.readlink(f"{parent_fds}/{fd}") == own:
                            return True
                    except OSError:
                        pass  # closed meanwhile
                return False
            for _ in range(1000):
                if not parent_holds():
                    break
                time.sleep(0.01)
            os._exit(0)
class Server(socketserver.ForkingMixIn, socketserver.TCPServer):
    pass
with Server(("127.0.0.1", 0), Answer) as server:
    print(server.server_address[1], flush=True)
    for _ in range(int(sys.argv[1])):
        server.handle_request()
    server.collect_children(blocking=True)
"""


class ForkPerConnection(ScenarioTest):
    def assert_one_leak_per_child(self, run, client_ports):
        self.assertEqual(run.returncode, 0, run.stderr)
        leaks = run.findings()
        self.assertEqual([f["kind"] for f in leaks], ["leaked-connection"], json.dumps(leaks, indent=1))
        instances = leaks[0]["instances"]
        server_pid = min(p["pid"] for p in run.report["processes"])
        self.assertEqual(len({i["pid"] for i in instances}), len(client_ports))
        self.assertNotIn(server_pid, {i["pid"] for i in instances})
        self.assertEqual(sorted(i["peer"] for i in instances), sorted(f"127.0.0.1:{p}" for p in client_ports))
        for instance in instances:
            self.assertEqual((instance["family"], instance["protocol"]), ("inet", "tcp"))
            self.assertFalse(instance["listening"])
            self.assertTrue(instance["inherited"])
            self.assertRegex(instance["local"], r"^127\.0\.0\.1:\d+$")
            self.assertNotEqual(instance["local"], "127.0.0.1:0")
            # The parent closed its copy first: the child held the last one.
            self.assertEqual(instance["shared_with"], [server_pid])
            child = next(p for p in run.report["processes"] if p["pid"] == instance["pid"])
            self.assertLessEqual(instance["opened_ns"], child["start_ns"])
        return leaks[0]

    def test_c_server_children_leak_their_own_connections(self):
        run, client_ports = run_server([program("fork_per_connection"), "4"])
        finding = self.assert_one_leak_per_child(run, client_ports)
        self.assert_stack_top(finding, "accept_client", "fork_per_connection.c", "accept_client")

    def test_python_forking_server_children_that_exit_holding_leak(self):
        run, client_ports = run_server([sys.executable, "-c", PYTHON_SERVER, "4", "exit-holding"])
        self.assert_one_leak_per_child(run, client_ports)

    def test_python_forking_server_that_closes_has_no_findings(self):
        run, _ = run_server([sys.executable, "-c", PYTHON_SERVER, "4", "close"])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assert_no_findings(run)
        self.assertEqual(len(run.report["processes"]), 5)


class PassedWithScmRights(ScenarioTest):
    def test_a_received_socket_never_used_is_not_the_receivers_leak(self):
        run = connleak_run([program("pass_socket_to_child")])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assert_no_findings(run)
        child = next(p for p in run.report["processes"] if p["ppid"] == min(q["pid"] for q in run.report["processes"]))
        self.assertEqual(len(child["shared_at_end"]), 1)

    def test_a_received_socket_used_and_held_last_is_leaked_by_the_receiver(self):
        run = connleak_run([program("pass_socket_to_child"), "use"])
        self.assertEqual(run.returncode, 0, run.stderr)
        [finding] = run.findings()
        self.assertEqual(finding["kind"], "leaked-connection")
        self.assert_stack_top(finding, "receive_fd", "pass_socket_to_child.c", "receive_fd")
        [instance] = finding["instances"]
        parent = min(p["pid"] for p in run.report["processes"])
        self.assertNotEqual(instance["pid"], parent)
        self.assertEqual(instance["shared_with"], [parent])


# (domain, type) as the kernel gives them -> (family, protocol) as reported.
KINDS = {(2, 1): ("inet", "tcp"), (2, 2): ("inet", "udp"), (10, 1): ("inet6", "tcp"), (10, 2): ("inet6", "udp"),
         (1, 1): ("unix", "stream"), (1, 2): ("unix", "dgram"), (1, 5): ("unix", "seqpacket"),
         (16, 2): ("netlink", "dgram")}
MAKERS = {"make_inet_stream": (2, 1), "make_inet_dgram": (2, 2), "make_inet6_stream": (10, 1),
          "make_inet6_dgram": (10, 2), "make_unix_stream": (1, 1), "make_unix_dgram": (1, 2),
          "make_unix_seqpacket": (1, 5), "make_netlink_dgram": (16, 2)}


class ForkWhileThreadsChurn(ScenarioTest):
    """8 threads make, dup and close sockets while the main thread forks 100
    children; each child lists what the kernel says it holds."""

    def test_every_child_holds_what_the_kernel_says(self):
        run = connleak_run([program("fork_while_churning"), "100"], timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr)
        kernel = collections.defaultdict(dict)  # pid -> inode -> (fds, (domain, type))
        for line in run.stdout.splitlines():
            if line.startswith("forked "):
                kernel[int(line.split()[1])]  # a child, with or without sockets
                continue
            _, pid, fd, domain, type_, inode = line.split()
            fds, kind = kernel[int(pid)].setdefault(inode, (set(), (int(domain), int(type_))))
            fds.add(int(fd))
        self.assertEqual(len(kernel), 100)
        reported = collections.defaultdict(list)  # pid -> [(instance, maker)]
        for finding in run.findings():
            self.assertEqual(finding["kind"], "leaked-socket", finding["message"])
            maker = finding["stack"][0]["function"]
            self.assertIn(maker, MAKERS)
            for instance in finding["instances"]:
                reported[instance["pid"]].append((instance, maker))
        processes = {p["pid"]: p for p in run.report["processes"]}
        disagree = []
        for pid, sockets in kernel.items():
            by_fd = {fd: kind for fds, kind in sockets.values() for fd in fds}
            # Siblings share what they inherited: the one that ended last
            # leaked it, the others name it as held on by another process.
            shared = processes[pid]["shared_at_end"]
            for entry in shared:
                self.assertIn(entry["fd"], by_fd, f"pid {pid}")
                self.assertIn(entry["held_on_by"], processes)
            if len(reported[pid]) + len(shared) != len(sockets):
                disagree.append(f"pid {pid}: kernel {len(sockets)} sockets, report {len(reported[pid])} "
                                f"leaked + {len(shared)} held elsewhere")
                continue
            for instance, maker in reported[pid]:
                kind = by_fd.get(instance["fd"])
                self.assertIsNotNone(kind, f"pid {pid} holds no socket at fd {instance['fd']}")
                # The socket's own family, and the stack of the thread that made it.
                self.assertEqual((instance["family"], instance["protocol"]), KINDS[kind])
                self.assertEqual(MAKERS[maker], kind, f"pid {pid} fd {instance['fd']}")
                self.assertLessEqual(instance["opened_ns"], processes[pid]["end_ns"])
        self.assertEqual(disagree, [])


if __name__ == "__main__":
    unittest.main()
