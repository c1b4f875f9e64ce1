"""Shared pieces of the session tests: the scenario harness (imported from
the sibling tests/scenarios, unchanged), loopback HTTP/TLS/echo servers, and
helpers over the session parts of the JSON report."""

import atexit
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "scenarios"))

from harness import HttpServer, ScenarioTest, connleak_run, leak_line, program  # noqa: E402,F401

HEX = re.compile(r"^(0x)?[0-9a-fA-F]+$")


# --- servers ---------------------------------------------------------------

class _LineServer:
    """Accepts on 127.0.0.1:port; each connection gets its own thread that
    answers lines with reply(line) until the peer closes. Connections still
    open at the end are closed then."""

    def __init__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = []
        self.errors = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def wrap(self, conn):
        return conn

    def reply(self, line):
        raise NotImplementedError

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(10)
        try:
            conn = self.wrap(conn)
            with self.lock:
                self.connections.append(conn)
            reader = conn.makefile("rb")
            for line in reader:
                conn.sendall(self.reply(line))
        except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
            if not self.stopping.is_set():
                self.errors.append(repr(error))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(timeout=5)
        with self.lock:
            for conn in self.connections:
                try:
                    conn.close()
                except OSError:
                    pass
        self.listener.close()


class EchoServer(_LineServer):
    """Answers each line with itself."""

    def reply(self, line):
        return line


_certificate = None


def certificate():
    """(cert.pem, key.pem) of a self-signed localhost certificate, made once
    per test process with the openssl CLI."""
    global _certificate
    if _certificate is None:
        directory = tempfile.mkdtemp(prefix="connleak-session-cert-")
        atexit.register(shutil.rmtree, directory, True)
        cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-subj", "/CN=localhost", "-days", "1"],
                       check=True, capture_output=True, timeout=60)
        _certificate = (cert, key)
    return _certificate


class TlsServer(_LineServer):
    """TLS on 127.0.0.1:port (self-signed): handshake, then "pong\\n" for each
    line, until the client closes (or the server stops)."""

    def __init__(self):
        super().__init__()
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(*certificate())
        self.handshakes = 0

    def wrap(self, conn):
        tls = self.context.wrap_socket(conn, server_side=True)
        with self.lock:
            self.handshakes += 1
        return tls

    def reply(self, line):
        return b"pong\n"


# --- report helpers ----------------------------------------------------------

def instances(findings):
    return [instance for finding in findings for instance in finding["instances"]]


def printed(stdout, label):
    """Values printed as "<label> <value>" lines, in order."""
    return [line.split()[1] for line in stdout.splitlines() if line.startswith(label + " ")]


def address(hex_string):
    return int(hex_string, 16)


def dump(value):
    return json.dumps(value, indent=1)


class SessionTest(ScenarioTest):
    def assert_ran(self, run, expected_output=None):
        """The program exited 0 (and printed expected_output) and a report
        was written."""
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        if expected_output is not None:
            self.assertIn(expected_output, run.stdout)
        self.assertIsNotNone(run.report, run.stderr)

    def assert_frame_at(self, frame, function, source, marker, context):
        """frame (a stack entry, or a leaked-connection's "session") is
        function at the LEAK: marker line of source."""
        self.assertEqual(frame["function"], function, dump(context))
        self.assertTrue((frame["file"] or "").endswith(source), dump(context))
        self.assertEqual(frame["line"], leak_line(source, marker), dump(context))

    def assert_session_instance_shape(self, instance):
        for key in ("pid", "api", "handle", "completed_transfers", "connections", "last_transfer_ns",
                    "idle_ns"):
            self.assertIn(key, instance, dump(instance))
        self.assertRegex(instance["handle"], HEX)
        self.assertIsInstance(instance["completed_transfers"], int)
        self.assertIsInstance(instance["connections"], list)
        for connection in instance["connections"]:
            for key in ("fd", "peer", "local", "tcp_state"):
                self.assertIn(key, connection, dump(instance))
        if instance["completed_transfers"] == 0:
            self.assertIsNone(instance["last_transfer_ns"], dump(instance))
            self.assertIsNone(instance["idle_ns"], dump(instance))
        else:
            self.assertIsInstance(instance["last_transfer_ns"], int, dump(instance))
            self.assertIsInstance(instance["idle_ns"], int, dump(instance))
            self.assertGreaterEqual(instance["idle_ns"], 0, dump(instance))

    def run_direct(self, args, timeout=30):
        """The program run on its own, without connleak."""
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)



class _ProcessServer:
    """A server process of a Debian package on self.port (127.0.0.1),
    waited for until it accepts, and stopped on exit."""

    name = "server"

    def start(self, argv):
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    break
                threading.Event().wait(0.05)
        error = self.process.stderr.read().decode(errors="replace") if self.process.poll() is not None else ""
        self.__exit__()
        raise RuntimeError(f"{self.name} did not listen on 127.0.0.1:{self.port}: {error}")

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stderr.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def unused_port():
    """A loopback port nothing listens on (bound, then released)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


class RedisServer(_ProcessServer):
    """Debian's redis-server, nothing saved, in a directory of its own."""

    name = "redis-server"

    def __init__(self):
        self.port = unused_port()
        self.directory = tempfile.mkdtemp(prefix="connleak-session-redis-")

    def __enter__(self):
        return self.start(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--dir", self.directory, "--daemonize", "no"])


class SshServer(_ProcessServer):
    """Debian's sshd with a host key and configuration of its own (no user
    can log in: the tests need only the handshake)."""

    name = "sshd"

    def __init__(self):
        self.port = unused_port()
        self.directory = tempfile.mkdtemp(prefix="connleak-session-sshd-")
        os.chmod(self.directory, 0o755)
        key = os.path.join(self.directory, "host_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True,
                       capture_output=True, timeout=30)
        self.config = os.path.join(self.directory, "sshd_config")
        with open(self.config, "w") as f:
            f.write(f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {key}\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nPubkeyAuthentication no\nUsePAM no\nAllowUsers nobody-here\n"
                    f"PidFile {os.path.join(self.directory, 'sshd.pid')}\nMaxStartups 50\n")

    def __enter__(self):
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation's empty directory
        return self.start(["/usr/sbin/sshd", "-D", "-e", "-f", self.config])
