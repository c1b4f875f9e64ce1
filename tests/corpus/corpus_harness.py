"""Shared pieces of the corpus tests: real programs (git, wget, nginx,
redis, PostgreSQL) run under the real `connleak run`, against servers each
test starts itself on 127.0.0.1 and stops itself.

  connleak_run(argv)      run a client to its end under `connleak run`
  Traced(argv)            a server under `connleak run` in the background;
                          the test stops it the program's own way, then
                          finish() returns its Run
  connleak_report(dir)    `connleak report` over a trace directory (for a
                          daemon, whose processes outlive `connleak run`)
  free_port()             a free 127.0.0.1 TCP port (for programs that
                          need one named in their configuration)
  wait_until(...)         polls a condition (never a fixed sleep)
  GitHttpServer           git's smart HTTP: `git http-backend` as CGI
                          behind a small HTTP/1.1 keep-alive server
  StaticSite              a directory over HTTP/1.1 keep-alive (or HTTPS)
  Pki                     a CA and a 127.0.0.1/localhost server
                          certificate (tests/identity/real/loopback_servers.py)
  ServiceUser             an unprivileged user to run a server as (when
                          the test runs as root)

Every helper kills the whole process tree it started when it times out,
so a hung program cannot outlive its test.
"""

import dataclasses
import functools
import http.server
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "identity", "real"))

from loopback_servers import Pki  # noqa: E402,F401

CONNLEAK = os.environ["CONNLEAK"]
TIMEOUT = 60
# No proxy may ever see these requests: every client goes straight to 127.0.0.1.
NO_PROXY = {name: "" for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                                  "ALL_PROXY")}
NO_PROXY.update(no_proxy="*", NO_PROXY="*")


def dump(value):
    return json.dumps(value, indent=1)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, what, timeout=TIMEOUT, process=None):
    """Polls condition() until it returns a true value (which is returned);
    fails after timeout seconds, or as soon as process (a Popen) ended."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended (status {process.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def listening(port):
    """Whether a TCP socket listens on 127.0.0.1:port, read from
    /proc/net/tcp (no connection made: a probe would be a client the
    server has to see close)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == wanted and fields[3] == "0A":  # TCP_LISTEN
                return True
    return False


def wait_for_port(port, timeout=TIMEOUT, process=None):
    """Until something listens on 127.0.0.1:port (or process ended)."""
    wait_until(lambda: listening(port), f"a listener on 127.0.0.1:{port}", timeout, process)


def socket_fds(pid):
    """How many of pid's fds are sockets (0 once it is gone)."""
    count = 0
    try:
        for entry in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{entry}").startswith("socket:"):
                    count += 1
            except OSError:
                pass
    except OSError:
        return 0
    return count


def gone(pid):
    """Whether pid has ended (a zombie nobody reaped counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def read_pid_file(path):
    """The pid in path, once the program wrote it whole."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    return int(text.split()[0]) if text.endswith("\n") and text.split() else None


def _descendants(pid):
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


def kill_tree(pid, extra=()):
    """SIGKILL to pid, everything below it, and extra (pids of a daemon
    that left the tree) with everything below them."""
    victims = [pid, *_descendants(pid)]
    for other in extra:
        if other:
            victims += [other, *_descendants(other)]
    for each in victims:
        try:
            os.kill(each, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --- an unprivileged user ---------------------------------------------------

class ServiceUser:
    """Who a server that refuses root (PostgreSQL) runs as. As root: the
    system user `name`, created with useradd when missing; otherwise the
    current user. popen_args() are subprocess keywords that switch to it."""

    def __init__(self, name):
        if os.geteuid() != 0:
            self.name = pwd.getpwuid(os.geteuid()).pw_name
            self.switch = False
        else:
            self.name = name
            self.switch = True
            try:
                pwd.getpwnam(name)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                                "--shell", "/usr/sbin/nologin", "--user-group", name],
                               check=True, capture_output=True, timeout=TIMEOUT)
        entry = pwd.getpwnam(self.name)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid

    def own(self, path):
        """path (a directory made by the test) becomes the user's."""
        if self.switch:
            os.chown(path, self.uid, self.gid)

    def popen_args(self):
        if not self.switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


# --- running under connleak -------------------------------------------------

@dataclasses.dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    report: dict

    def findings(self, kind=None):
        return [f for f in self.report["findings"] if kind is None or f["kind"] == kind]

    def errors(self):
        return [f for f in self.report["findings"] if f["severity"] == "error"]


class _Work:
    """A directory for one traced run: report.json, traces/."""

    def __init__(self, user=None):
        self.directory = tempfile.mkdtemp(prefix="connleak-corpus-run-")
        if user is not None:
            user.own(self.directory)
        self.report_path = os.path.join(self.directory, "report.json")
        self.traces = os.path.join(self.directory, "traces")

    def command(self, argv, options=()):
        return [CONNLEAK, "run", "--format", "json", "--report", self.report_path,
                "--output-dir", self.traces, *options, "--", *argv]

    def report(self):
        if not os.path.exists(self.report_path):
            return None
        with open(self.report_path) as f:
            return json.load(f)

    def remove(self):
        shutil.rmtree(self.directory, ignore_errors=True)


def _environment(env):
    return {**os.environ, **NO_PROXY, **(env or {})}


def connleak_run(argv, env=None, timeout=TIMEOUT, cwd=None, user=None, stdin=None, options=()):
    """`connleak run --format json` over argv to its end; returns a Run."""
    work = _Work(user)
    try:
        kwargs = user.popen_args() if user is not None else {}
        process = subprocess.Popen(work.command(argv, options), stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                                   env=_environment(env), cwd=cwd, **kwargs)
        try:
            stdout, stderr = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(process.pid)
            stdout, stderr = process.communicate()
            raise AssertionError(f"{argv} did not end within {timeout} s:\n{stdout}\n{stderr}") from None
        return Run(process.returncode, stdout, stderr, work.report())
    finally:
        work.remove()


def connleak_report(traces, timeout=TIMEOUT, options=()):
    """`connleak report --format json` over a trace directory; a Run
    (returncode, stdout, stderr are connleak's own)."""
    directory = tempfile.mkdtemp(prefix="connleak-corpus-report-")
    try:
        path = os.path.join(directory, "report.json")
        completed = subprocess.run([CONNLEAK, "report", "--format", "json", "--report", path, *options, traces],
                                   capture_output=True, text=True, timeout=timeout)
        report = None
        if os.path.exists(path):
            with open(path) as f:
                report = json.load(f)
        return Run(completed.returncode, completed.stdout, completed.stderr, report)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class Traced:
    """A server under `connleak run` in the background. The test stops it
    the program's own way (a command, a signal to its pid file's pid),
    then finish() waits for `connleak run` to end and returns the Run;
    stdout and stderr go to files (a server's may be long)."""

    def __init__(self, argv, env=None, cwd=None, user=None, options=()):
        self.work = _Work(user)
        self.out = open(os.path.join(self.work.directory, "stdout"), "w+")
        self.err = open(os.path.join(self.work.directory, "stderr"), "w+")
        kwargs = user.popen_args() if user is not None else {}
        self.process = subprocess.Popen(self.work.command(argv, options), stdin=subprocess.DEVNULL,
                                        stdout=self.out, stderr=self.err, env=_environment(env), cwd=cwd,
                                        **kwargs)
        self.finished = None

    def output(self):
        self.out.seek(0)
        self.err.seek(0)
        return self.out.read(), self.err.read()

    def finish(self, timeout=TIMEOUT, also_kill=()):
        """Waits for `connleak run` to end (after the test stopped the
        program); on a timeout kills everything it started, and also_kill
        (pids of a daemon that left the tree)."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(self.process.pid, also_kill)
            self.process.wait()
            stdout, stderr = self.output()
            raise AssertionError(f"connleak run did not end within {timeout} s:\n{stdout}\n{stderr}") from None
        stdout, stderr = self.output()
        self.finished = Run(self.process.returncode, stdout, stderr, self.work.report())
        return self.finished

    def cleanup(self, also_kill=()):
        """Whatever happened: nothing left running, files removed."""
        if self.process.poll() is None:
            kill_tree(self.process.pid, also_kill)
            self.process.wait()
        self.out.close()
        self.err.close()
        self.work.remove()


# --- git's smart HTTP -------------------------------------------------------

class _GitHandler(http.server.BaseHTTPRequestHandler):
    """Every request goes to `git http-backend` (CGI); its answer is sent
    back with a Content-Length, so the connection stays open (HTTP/1.1
    keep-alive) for the client's next request."""

    protocol_version = "HTTP/1.1"
    timeout = 10

    def _cgi(self):
        path, _, query = self.path.partition("?")
        body = b""
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            body = self.rfile.read(length)
        elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.server.project_root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_SOFTWARE": "connleak-corpus",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
        }
        for header in ("Content-Encoding", "Git-Protocol", "Accept"):
            if header in self.headers:
                env["HTTP_" + header.upper().replace("-", "_")] = self.headers[header]
        completed = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True,
                                   timeout=TIMEOUT)
        self.server.requests += 1
        head, _, payload = completed.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = completed.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _read_chunked(self):
        data = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return data
            data += self.rfile.read(size)
            self.rfile.readline()

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    do_GET = do_POST = _cgi

    def log_message(self, *args):
        pass


class GitHttpServer:
    """git's smart HTTP protocol on 127.0.0.1 (port 0) for the bare
    repositories under project_root. connections and requests count what
    clients did."""

    def __init__(self, project_root):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _GitHandler)
        self.server.daemon_threads = True
        self.server.project_root = project_root
        self.server.lock = threading.Lock()
        self.server.connections = 0
        self.server.requests = 0
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def connections(self):
        return self.server.connections

    @property
    def requests(self):
        return self.server.requests

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# --- a static web site ------------------------------------------------------

class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # files go with a Content-Length: keep-alive
    timeout = 10

    def setup(self):
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, in this connection's thread
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, *args):
        pass


class _SiteServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):
        pass


class StaticSite:
    """The files under root, served over HTTP/1.1 keep-alive on 127.0.0.1
    (port 0); with tls=(cert, key) over HTTPS. connections counts the
    connections clients made."""

    def __init__(self, root, tls=None):
        handler = functools.partial(_SiteHandler, directory=root)
        self.server = _SiteServer(("127.0.0.1", 0), handler)
        self.server.lock = threading.Lock()
        self.server.connections = 0
        self.port = self.server.server_address[1]
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                     do_handshake_on_connect=False)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def connections(self):
        return self.server.connections

    def url(self, path, host="127.0.0.1"):
        return f"{self.scheme}://{host}:{self.port}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# --- the test case ----------------------------------------------------------

def brief(findings):
    """Findings in a few lines each, for assertion messages: kind, message,
    the top frame, and every instance's pid, fd, family, addresses and
    whether it was inherited."""
    lines = []
    for f in findings:
        top = f["stack"][0] if f["stack"] else {}
        where = top.get("function") or f"{top.get('module')}+{top.get('module_offset')}"
        lines.append(f"{f['kind']} ({f['severity']}, {f['count']}): {f['message']} [at {where}]")
        for i in f["instances"]:
            if "api" in i:
                lines.append(f"    pid {i['pid']} {i['api']} {i.get('handle')} "
                             f"transfers {i.get('completed_transfers')}")
            else:
                lines.append(f"    pid {i['pid']} fd {i['fd']} {i['family']}/{i['protocol']} {i['local']} -> "
                             f"{i['peer']} {i.get('tcp_state')} inherited={i.get('inherited')}")
    return "\n".join(lines) or "(no findings)"


class CorpusTest(unittest.TestCase):
    maxDiff = None

    def assert_report(self, run):
        self.assertIsNotNone(run.report, f"no report written\nstdout:\n{run.stdout[-4000:]}\n"
                                         f"stderr:\n{run.stderr[-4000:]}")

    def assert_complete(self, run):
        """Every process was traced whole: no lost events, no child that
        left no trace."""
        self.assert_report(run)
        for process in run.report["processes"]:
            self.assertEqual((process["pid"], process["lost_events"], process["untraced_children"]),
                             (process["pid"], 0, 0), dump(process))

    def assert_findings(self, run, expected):
        """The report's findings, as sorted (kind, severity, count)
        triples, are exactly expected."""
        self.assert_report(run)
        found = sorted((f["kind"], f["severity"], f["count"]) for f in run.report["findings"])
        self.assertEqual(found, sorted(expected), brief(run.report["findings"]))

    def assert_no_findings(self, run):
        self.assert_findings(run, [])
        self.assertEqual((run.report["summary"]["errors"], run.report["summary"]["warnings"]), (0, 0),
                         dump(run.report["summary"]))

    def assert_no_errors(self, run):
        self.assert_report(run)
        self.assertEqual(brief(run.errors()), brief([]), brief(run.report["findings"]))
        self.assertEqual(run.report["summary"]["errors"], 0, dump(run.report["summary"]))

    def assert_exited(self, run, count=None):
        """Every traced process image exited with status 0 or exec'd
        another (count images, if given)."""
        self.assert_report(run)
        ends = [(p["pid"], p["end"], p["exit_status"]) for p in run.report["processes"]]
        expected = [(pid, end, None) if end == "exec" else (pid, "exit", 0) for pid, end, _ in ends]
        self.assertEqual(ends, expected, dump(run.report["processes"]))
        if count is not None:
            self.assertEqual(len(ends), count, dump(run.report["processes"]))

    def processes(self, run, argv0=None, exe=None):
        """The report's processes whose argv[0] (or exe) ends with the given
        name."""
        found = []
        for p in run.report["processes"]:
            if argv0 is not None and p["argv"] and p["argv"][0].endswith(argv0):
                found.append(p)
            elif exe is not None and (p["exe"] or "").endswith(exe):
                found.append(p)
        return found

    def temp_dir(self, prefix):
        directory = tempfile.mkdtemp(prefix=f"connleak-corpus-{prefix}-")
        self.addCleanup(shutil.rmtree, directory, True)
        return directory
