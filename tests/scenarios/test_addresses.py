"""The facts the kernel knows, in the report: the real port of a socket
bound to port 0 or listening without bind, and an accepted socket's own
local address (not its listener's)."""

import os
import sys

import tempfile

from harness import ScenarioTest, connleak_run, program

# A listener on 0.0.0.0 port 0, one without bind, a client to the first and
# the accepted end; all left open (os._exit skips Python's own closes).
PROGRAM = r"""
import os, socket
bound = socket.socket(); bound.bind(("0.0.0.0", 0)); bound.listen()
unbound = socket.socket(); unbound.listen()
client = socket.create_connection(("127.0.0.1", bound.getsockname()[1]))
accepted, _ = bound.accept()
print(bound.getsockname()[1], unbound.getsockname()[1], accepted.getsockname()[0], accepted.getsockname()[1])
os._exit(0)
"""


class KernelAddresses(ScenarioTest):
    def test_ports_and_local_addresses_are_the_kernels(self):
        run = connleak_run(["/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable,
                            "-c", PROGRAM])
        self.assertEqual(run.returncode, 0, run.stderr)
        bound_port, unbound_port, accepted_ip, accepted_port = run.stdout.split()
        instances = [i for f in run.report["findings"] for i in f["instances"]]
        locals_seen = {i["local"] for i in instances}
        self.assertIn(f"0.0.0.0:{bound_port}", locals_seen)
        self.assertIn(f"0.0.0.0:{unbound_port}", locals_seen)
        self.assertIn(f"{accepted_ip}:{accepted_port}", locals_seen)
        self.assertNotIn("0.0.0.0:0", locals_seen)


class GroupMessages(ScenarioTest):
    def test_a_group_names_the_kinds_of_all_its_sockets(self):
        # Python makes every socket at the same C call site: one group.
        program = "import os, socket\nkeep = [socket.socket(), socket.socket(), socket.socket(socket.AF_UNIX)]\nos._exit(0)\n"
        run = connleak_run(["/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable,
                            "-c", program])
        messages = [f["message"] for f in run.report["findings"] if f["kind"] == "leaked-socket"]
        self.assertIn("3 sockets (2 TCP, 1 unix stream) created here were never closed", messages)


class KernelKinds(ScenarioTest):
    def test_an_accepted_socket_has_the_kernels_family_and_type(self):
        # The listener is made by a raw system call: the shim learns of it
        # only at accept(), from the kernel.
        run = connleak_run([program("raw_listener_accept")])
        self.assertEqual(run.returncode, 0, run.stderr)
        client_fd, accepted_fd = map(int, run.stdout.split())
        accepted = [i for f in run.findings() for i in f["instances"] if i["fd"] == accepted_fd]
        self.assertEqual(len(accepted), 1, run.report["findings"])
        self.assertEqual((accepted[0]["family"], accepted[0]["protocol"]), ("unix", "seqpacket"))
        finding = next(f for f in run.findings() if accepted[0] in f["instances"])
        self.assert_stack_top(finding, "accept_on", "raw_listener_accept.c", "accept_on")


class Executable(ScenarioTest):
    def test_the_executable_is_named_as_it_was_run(self):
        with tempfile.TemporaryDirectory() as work:
            link = os.path.join(work, "my-true")
            os.symlink("/bin/true", link)
            run = connleak_run([link])
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertEqual([p["exe"] for p in run.report["processes"]], [link])
            # A relative path is made absolute; a script names its interpreter.
            run = connleak_run(["/bin/sh", "-c", f"cd {work} && exec ./my-true"])
            self.assertEqual([p["exe"] for p in run.report["processes"]][-1], link)
