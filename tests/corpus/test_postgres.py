"""PostgreSQL (Debian's postgresql and postgresql-contrib): initdb once
per module, then each test starts its own postgres on a free 127.0.0.1
port with its unix socket in the test's directory, and stops it (SIGINT:
fast shutdown). PostgreSQL refuses to run as root: as root the server runs
as the system user connleak-pg (created when missing), otherwise as the
current user.

  clients   psql (over TCP and over the unix socket, several queries) and
            pgbench (-i, then 4 clients x 50 transactions on 2 threads),
            each under `connleak run`, against an untraced server: every
            connection closed (PQfinish), no findings
  server    postgres itself under `connleak run` (psql and pgbench not
            traced). The postmaster accepts each connection, forks a
            backend for it and closes its own copy; the backend serves the
            client and exits without closing the socket, on purpose
            ("leave the socket open until the process dies", so a client
            can wait for the close: socket_close() in
            src/backend/libpq/pqcomm.c). So each backend, the socket's last
            holder, ends with it open: one leaked-connection finding (every
            accept is at one line, in the postmaster), with one instance
            per backend, naming that backend's own client: its pid and the
            client's address as the server logged them
            (log_connections). The auxiliary processes close the
            listeners they inherit (ClosePostmasterPorts): nothing else.
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from corpus_harness import CorpusTest, ServiceUser, Traced, brief, connleak_run, dump, free_port, gone, \
    kill_tree, wait_for_port, wait_until

BIN = (sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
       or [None])[-1]
TOOLS = ("initdb", "postgres", "psql", "pgbench")
HAVE = BIN is not None and all(os.access(os.path.join(BIN, tool), os.X_OK) for tool in TOOLS)
SYSTEM_USER = "connleak-pg"
TIMEOUT = 60

user = None
cluster = None  # the module's data directory (initdb once)
home = None


def tool(name):
    return os.path.join(BIN, name)


def setUpModule():
    global user, cluster, home
    if not HAVE:
        return
    user = ServiceUser(SYSTEM_USER)
    home = tempfile.mkdtemp(prefix="connleak-corpus-postgres-")
    unittest.addModuleCleanup(shutil.rmtree, home, True)
    os.chmod(home, 0o755)
    user.own(home)
    cluster = os.path.join(home, "data")
    subprocess.run([tool("initdb"), "-D", cluster, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C",
                    "--no-sync", "--no-instructions"],
                   check=True, capture_output=True, timeout=TIMEOUT, cwd=home, env=server_env(), **user.popen_args())


def server_env():
    return {**os.environ, "HOME": home, "LC_ALL": "C", "TZ": "UTC", "PGTZ": "UTC"}


class Postgres:
    """The module's cluster served on a free port (TCP on 127.0.0.1 only)
    and a unix socket in a directory of the test's own."""

    def __init__(self, socket_dir):
        self.port = free_port()
        self.socket_dir = socket_dir
        self.argv = [tool("postgres"), "-D", cluster, "-p", str(self.port),
                     "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={socket_dir}",
                     "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                     "-c", "shared_buffers=16MB", "-c", "max_connections=20", "-c", "logging_collector=off",
                     "-c", "log_connections=on", "-c", "log_line_prefix=[%p] "]

    def client_env(self, host="127.0.0.1"):
        return {"PGHOST": host, "PGPORT": str(self.port), "PGUSER": "postgres", "PGDATABASE": "postgres",
                "PGCONNECT_TIMEOUT": "20", "PGSSLMODE": "disable", "PGAPPNAME": "connleak-corpus",
                "HOME": home, "LC_ALL": "C", "PGTZ": "UTC"}

    def postmaster_pid(self):
        try:
            with open(os.path.join(cluster, "postmaster.pid")) as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        return int(lines[0]) if len(lines) > 1 and lines[0].isdigit() else None


@unittest.skipUnless(HAVE, f"PostgreSQL's {', '.join(TOOLS)} are not installed (Debian packages postgresql, "
                           "postgresql-contrib)")
class PostgresTest(CorpusTest):
    def socket_dir(self):
        directory = self.temp_dir("postgres-socket")
        os.chmod(directory, 0o755)
        user.own(directory)
        return directory

    def start_untraced(self):
        server = Postgres(self.socket_dir())
        log = open(os.path.join(server.socket_dir, "server.log"), "w")
        self.addCleanup(log.close)
        process = subprocess.Popen(server.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=home,
                                   env=server_env(), **user.popen_args())
        self.addCleanup(self.stop, process)
        wait_for_port(server.port, process=process)
        wait_until(lambda: server.postmaster_pid() == process.pid, "postmaster.pid", process=process)
        return server

    def stop(self, process):
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                kill_tree(process.pid)
                process.wait()

    def client(self, server, argv, host="127.0.0.1"):
        run = connleak_run(argv, env=server.client_env(host))
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assert_complete(run)
        self.assert_exited(run, count=1)
        return run

    def psql(self, server, *commands, host="127.0.0.1"):
        argv = [tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        for command in commands:
            argv += ["-c", command]
        return self.client(server, argv, host)

    def test_psql(self):
        server = self.start_untraced()
        run = self.psql(server, "drop table if exists corpus", "create table corpus (n int, t text)",
                        "insert into corpus select n, md5(n::text) from generate_series(1, 1000) n",
                        "select count(*), sum(n) from corpus", "select t from corpus where n = 7")
        self.assertEqual(run.stdout.split(), ["1000|500500", "8f14e45fceea167a5a36dedd4bea2543"])
        self.assert_no_findings(run)
        self.assertEqual(run.report["summary"]["sockets_opened"], 1)
        unix = self.psql(server, "select count(*) from corpus", "select current_setting('port')",
                         host=server.socket_dir)
        self.assertEqual(unix.stdout.split(), ["1000", str(server.port)])
        self.assert_no_findings(unix)
        self.assertEqual(unix.report["summary"]["sockets_opened"], 1)

    def test_pgbench(self):
        server = self.start_untraced()
        init = self.client(server, [tool("pgbench"), "-i", "-s", "1", "-q"])
        self.assertIn("done in", init.stderr)
        self.assert_no_findings(init)
        bench = self.client(server, [tool("pgbench"), "-n", "-c", "4", "-j", "2", "-t", "50"])
        self.assertIn("number of transactions actually processed: 200/200", bench.stdout)
        self.assert_no_findings(bench)
        self.assertGreaterEqual(bench.report["summary"]["sockets_opened"], 4)

    def test_traced_server(self):
        server = Postgres(self.socket_dir())
        traced = Traced(server.argv, env=server_env(), cwd=home, user=user)
        self.addCleanup(traced.cleanup)
        wait_for_port(server.port, process=traced.process)
        postmaster = wait_until(server.postmaster_pid, "postmaster.pid", process=traced.process)
        clients = [
            [tool("psql"), "-X", "-q", "-c", "select 1", "-c", "select count(*) from pg_class"],
            [tool("pgbench"), "-i", "-s", "1", "-q"],
            [tool("pgbench"), "-n", "-c", "4", "-j", "2", "-t", "20"],
        ]
        for argv in clients:
            completed = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                                       env={**os.environ, **server.client_env()})
            self.assertEqual(completed.returncode, 0, completed.stdout + completed.stderr)
        completed = subprocess.run([tool("psql"), "-X", "-c", "select 1"], capture_output=True, text=True,
                                   timeout=TIMEOUT, env={**os.environ, **server.client_env(server.socket_dir)})
        self.assertEqual(completed.returncode, 0, completed.stdout + completed.stderr)
        os.kill(postmaster, signal.SIGINT)  # fast shutdown
        run = traced.finish()
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        self.assertTrue(gone(postmaster))
        self.assert_complete(run)
        # Every process exited (none was killed); the logical replication
        # launcher exits with status 1 at a shutdown, as it always does.
        ends = {p["pid"]: (p["end"], p["exit_status"]) for p in run.report["processes"]}
        self.assertEqual({pid: end for pid, (end, _) in ends.items()}, {pid: "exit" for pid in ends},
                         dump(run.report["processes"]))
        self.assertEqual(ends[postmaster], ("exit", 0), dump(run.report["processes"]))

        # The backends, as the server logged them: pid -> client address.
        backends = {}
        for pid, host, port in re.findall(r"^\[(\d+)\] LOG:  connection received: host=(\S+)(?: port=(\d+))?$",
                                          run.stderr, re.M):
            backends[int(pid)] = "(unnamed)" if host == "[local]" else f"{host}:{port}"
        self.assertEqual(sum(peer == "(unnamed)" for peer in backends.values()), 1, run.stderr[-3000:])
        self.assertGreaterEqual(len(backends), 1 + 1 + 4 + 1, run.stderr[-3000:])
        traced_pids = {p["pid"] for p in run.report["processes"]}
        self.assertLessEqual(set(backends), traced_pids, dump(run.report["processes"]))

        details = brief(run.report["findings"])
        self.assert_findings(run, [("leaked-connection", "error", len(backends))])
        finding = run.report["findings"][0]
        self.assertIn("accepted here", finding["message"], details)
        self.assertIn("StreamConnection", [frame["function"] for frame in finding["stack"]], details)
        seen = {}
        for instance in finding["instances"]:
            self.assertNotIn(instance["pid"], seen, details)
            self.assertTrue(instance["inherited"], details)  # from the postmaster, at the fork
            local = (f"{server.socket_dir}/.s.PGSQL.{server.port}" if backends.get(instance["pid"]) == "(unnamed)"
                     else f"127.0.0.1:{server.port}")
            family = "unix" if backends.get(instance["pid"]) == "(unnamed)" else "inet"
            seen[instance["pid"]] = (instance["peer"], instance["local"], instance["family"])
            self.assertEqual(seen[instance["pid"]], (backends.get(instance["pid"]), local, family), details)
        self.assertEqual(sorted(seen), sorted(backends), details)


if __name__ == "__main__":
    unittest.main()
