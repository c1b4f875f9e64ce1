"""nginx (Debian's package) under `connleak run`: a master and two
workers, listening on free 127.0.0.1 ports (HTTP, and HTTPS with a test
CA), every path (prefix, configuration, pid file, logs, temp directories)
in the test's directory; put under load, then stopped gracefully
(SIGQUIT, what `nginx -s quit` sends).

What nginx does with its sockets (strace of the native run): the master
opens the listeners and, per worker, a channel socketpair; each worker
inherits the listeners and every channel, closes the ends it does not
need, and is sent the later workers' channels over its own (SCM_RIGHTS).
On SIGQUIT each worker closes its listeners and exits, still holding its
own channel end and the other workers' (it never closes them itself); the
master holds every channel until it has reaped the worker, then closes
both ends, and exits last. Each connection a worker accepts (and each SSL
it makes for it) is closed (freed) by the worker.

Which process holds a channel last is a race in nginx: when the master
reaps the first worker to exit and closes that worker's channel before
the second worker has exited, the second worker ends holding the last
reference to it, and never closed it. The tests take the race away: the
master is stopped (SIGSTOP) while the workers are sent SIGQUIT and exit,
then continued with its own SIGQUIT pending, so it reaps them, closes
every channel and exits. Then no process ends holding the last reference
to a socket: no findings at all.

  daemon off   `connleak run` traces the master itself; workers run as
               the current user (as root: `user root`)
  daemon on    the master forks and its parent exits at once, so
               `connleak run` ends while nginx serves: its report sees
               the daemon running; `connleak report` over the same traces,
               after the stop, sees it all end
  workers that switch user
               as root (nginx's default): workers setuid() to nobody
               after the fork, and still leave whole traces
"""

import grp
import http.client
import os
import pwd
import shutil
import signal
import ssl
import subprocess
import threading
import unittest

from corpus_harness import CorpusTest, Pki, Traced, brief, connleak_report, dump, free_port, gone, kill_tree, \
    read_pid_file, wait_for_port, wait_until

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
BODY = b"hello from nginx\n" * 64
KEEP_ALIVE_CLIENTS = 8  # half HTTP, half HTTPS
REQUESTS_PER_CLIENT = 50
FRESH_CONNECTIONS = 25  # per fresh-connection client: 2 HTTP, 2 HTTPS

pki = None


def setUpModule():
    global pki
    if NGINX:
        pki = Pki()
        unittest.addModuleCleanup(pki.remove)
        # Workers that run as another user read the key and certificate.
        os.chmod(pki.directory, 0o755)
        for path in (pki.cert, pki.key):
            os.chmod(path, 0o644)


def process_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _current_user_directive():
    if os.geteuid() != 0:
        return ""  # nginx could not switch users anyway
    return f"user {pwd.getpwuid(0).pw_name} {grp.getgrgid(0).gr_name};"


def _unprivileged_user_directive():
    if os.geteuid() != 0:
        return ""
    return "user nobody nogroup;" if _group_exists("nogroup") else "user nobody;"


def _group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


class Nginx:
    """One nginx instance: its prefix directory, configuration and ports."""

    def __init__(self, prefix, daemon, user_directive):
        self.prefix = prefix
        os.chmod(prefix, 0o755)  # workers that switched user read html/
        for name in ("html", "logs"):
            os.makedirs(os.path.join(prefix, name))
        with open(os.path.join(prefix, "html", "index.html"), "wb") as f:
            f.write(BODY)
        self.port, self.tls_port = free_port(), free_port()
        self.conf = os.path.join(prefix, "nginx.conf")
        self.pid_file = os.path.join(prefix, "nginx.pid")
        self.error_log = os.path.join(prefix, "logs", "error.log")
        temp = " ".join(f"{kind}_temp_path {prefix}/{kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                           "uwsgi", "scgi"))
        with open(self.conf, "w") as f:
            f.write(f"""{user_directive}
worker_processes 2;
master_process on;
daemon {daemon};
pid {self.pid_file};
error_log {self.error_log} notice;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/logs/access.log;
    {temp}
    keepalive_requests 1000;
    keepalive_timeout 30s;
    server {{
        listen 127.0.0.1:{self.port};
        root {prefix}/html;
    }}
    server {{
        listen 127.0.0.1:{self.tls_port} ssl;
        ssl_certificate {pki.cert};
        ssl_certificate_key {pki.key};
        root {prefix}/html;
    }}
}}
""")

    def argv(self, *extra):
        return [NGINX, "-p", self.prefix, "-c", self.conf, "-e", self.error_log, *extra]

    def master_pid(self):
        return read_pid_file(self.pid_file)

    def log(self):
        try:
            with open(self.error_log) as f:
                return f.read()
        except OSError:
            return ""


def load(server, fresh_connections=FRESH_CONNECTIONS):
    """KEEP_ALIVE_CLIENTS threads of REQUESTS_PER_CLIENT requests on one
    connection each, and 4 threads of fresh_connections one-request
    connections; half of each over HTTPS. Returns the number of good
    answers (every thread checks its bodies)."""
    context = ssl.create_default_context(cafile=pki.ca)
    answers, errors, lock = [0], [], threading.Lock()

    def connect(tls):
        if tls:
            return http.client.HTTPSConnection("127.0.0.1", server.tls_port, context=context, timeout=30)
        return http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

    def get(connection, close):
        connection.request("GET", "/index.html", headers={"Connection": "close"} if close else {})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200 or body != BODY:
            raise AssertionError(f"status {response.status}, {len(body)} bytes")

    def keep_alive(tls):
        connection = connect(tls)
        try:
            for _ in range(REQUESTS_PER_CLIENT):
                get(connection, close=False)
                with lock:
                    answers[0] += 1
        finally:
            connection.close()

    def fresh(tls):
        for _ in range(fresh_connections):
            connection = connect(tls)
            try:
                get(connection, close=True)
            finally:
                connection.close()
            with lock:
                answers[0] += 1

    def guarded(target, tls):
        try:
            target(tls)
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(repr(error))

    threads = [threading.Thread(target=guarded, args=(keep_alive, i % 2 == 1)) for i in range(KEEP_ALIVE_CLIENTS)]
    threads += [threading.Thread(target=guarded, args=(fresh, i % 2 == 1)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise AssertionError(f"load failed: {errors}")
    return answers[0]


def expected_answers(fresh_connections=FRESH_CONNECTIONS):
    return KEEP_ALIVE_CLIENTS * REQUESTS_PER_CLIENT + 4 * fresh_connections


# Enough connections that a worker's trace outgrows its first 64 KiB
# (about 200 bytes a connection) whichever way the two share them.
MANY_FRESH_CONNECTIONS = 300


@unittest.skipUnless(NGINX, "nginx is not installed (Debian package nginx)")
class NginxUnderLoad(CorpusTest):
    def start(self, daemon, user_directive):
        server = Nginx(self.temp_dir("nginx"), daemon, user_directive)
        traced = Traced(server.argv(), cwd=server.prefix)
        self.addCleanup(self.stop_everything, server, traced)
        return server, traced

    def graceful_stop(self, server, master, workers):
        """`nginx -s quit`, as an operator stops it: the master tells the
        workers to finish, reaps them and exits. A worker may end after the
        master closed the channel of one that ended before it: it holds the
        last copy of a socket it never used, which is not its leak."""
        stop = subprocess.run(server.argv("-s", "quit"), capture_output=True, text=True, timeout=60)
        self.assertEqual(stop.returncode, 0, stop.stderr)
        wait_until(lambda: all(gone(worker) for worker in workers), "the nginx workers to exit")

    def stop_everything(self, server, traced):
        """Whatever happened: no nginx of this test left running."""
        master = server.master_pid()
        if master and not gone(master):
            os.kill(master, signal.SIGCONT)
            subprocess.run(server.argv("-s", "stop"), capture_output=True, timeout=60)
            try:
                wait_until(lambda: gone(master), "nginx to stop", timeout=10)
            except AssertionError:
                kill_tree(master)
        traced.cleanup(also_kill=[master] if master else [])

    def workers(self, master):
        """The master's worker processes (pids), once both are running."""
        def both():
            children = []
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        with open(f"/proc/{entry}/stat") as f:
                            if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                                children.append(int(entry))
                    except (OSError, ValueError, IndexError):
                        pass
            return sorted(children) if len(children) == 2 else None
        return wait_until(both, "nginx's two workers")

    def serve(self, server, process=None, fresh_connections=FRESH_CONNECTIONS):
        wait_for_port(server.port, process=process)
        wait_for_port(server.tls_port, process=process)
        master = wait_until(server.master_pid, "nginx's pid file", process=process)
        workers = self.workers(master)
        self.assertEqual(load(server, fresh_connections), expected_answers(fresh_connections))
        return master, workers

    def assert_nginx_processes(self, run, master, workers, images):
        """The traced processes are exactly images (pids) and each exited 0:
        the master last, after its workers."""
        self.assert_exited(run)
        self.assertEqual(sorted(p["pid"] for p in run.report["processes"]), sorted(images),
                         dump(run.report["processes"]))
        ends = {p["pid"]: p["end_ns"] for p in run.report["processes"]}
        for worker in workers:
            self.assertLess(ends[worker], ends[master])

    def assert_clean(self, run, server, fresh_connections=FRESH_CONNECTIONS):
        """No findings at all, every trace whole; and the load really went
        through the traced workers (an SSL per HTTPS connection)."""
        self.assert_complete(run)
        self.assertEqual(brief(run.report["findings"]), brief([]), server.log()[-3000:])
        self.assert_no_findings(run)
        tls_connections = KEEP_ALIVE_CLIENTS // 2 + 2 * fresh_connections
        self.assertGreaterEqual(run.report["summary"]["sessions_created"], tls_connections)
        self.assertGreaterEqual(run.report["summary"]["sockets_opened"], KEEP_ALIVE_CLIENTS + 4 * fresh_connections)

    def test_daemon_off(self):
        server, traced = self.start("off", _current_user_directive())
        master, workers = self.serve(server, process=traced.process)
        self.graceful_stop(server, master, workers)
        run = traced.finish()
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        self.assert_nginx_processes(run, master, workers, [master, *workers])
        self.assert_clean(run, server)

    def test_daemon_on(self):
        server, traced = self.start("on", _current_user_directive())
        # The command, the master's parent, exits once the master is forked;
        # `connleak run` waits for the daemon it left running (a subreaper).
        master, workers = self.serve(server)
        self.graceful_stop(server, master, workers)
        wait_until(lambda: gone(master), "the nginx master to exit")
        run = traced.finish()
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        commands = [p["pid"] for p in run.report["processes"] if p["ppid"] == traced.process.pid]
        self.assertEqual(len(commands), 1, dump(run.report["processes"]))
        command = commands[0]
        self.assertNotIn(command, [master, *workers])
        self.assert_nginx_processes(run, master, workers, [command, master, *workers])
        self.assert_clean(run, server)

    def test_workers_that_switch_user(self):
        """As root, workers setuid() to nobody after the fork (nginx's
        default): their traces, created before, must still take every
        event. (Not as root nginx cannot switch: then the same as
        test_daemon_off.)"""
        server, traced = self.start("off", _unprivileged_user_directive())
        master, workers = self.serve(server, process=traced.process, fresh_connections=MANY_FRESH_CONNECTIONS)
        if os.geteuid() == 0:
            for worker in workers:
                with open(f"/proc/{worker}/status") as f:
                    uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
                self.assertEqual(int(uids[1]), pwd.getpwnam("nobody").pw_uid)
        self.graceful_stop(server, master, workers)
        run = traced.finish()
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        self.assert_complete(run)
        # The shim's warnings go to nginx's stderr, which nginx sends to its error log.
        self.assertNotIn("cannot grow", server.log())
        self.assert_nginx_processes(run, master, workers, [master, *workers])
        self.assert_clean(run, server, MANY_FRESH_CONNECTIONS)


if __name__ == "__main__":
    unittest.main()
