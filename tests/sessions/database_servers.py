"""The database servers of the session tests, from Debian's packages, each
on a free 127.0.0.1 port in a directory of the test's own, started and
stopped by the test: PostgreSQL (initdb, then postgres, as an unprivileged
user: it refuses root) and MariaDB (mariadb-install-db, then mariadbd)."""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "corpus"))

from corpus_harness import ServiceUser, free_port, wait_for_port  # noqa: E402

TIMEOUT = 60
NATIVE = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


class _Server:
    stop_signal = signal.SIGTERM

    def __init__(self, prefix, user=None):
        self.port = free_port()
        self.user = user
        self.directory = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.directory, 0o755)
        if user:
            user.own(self.directory)
        self.process = None

    def popen_args(self):
        return self.user.popen_args() if self.user else {}

    def start(self, argv):
        log = open(os.path.join(self.directory, "server.log"), "w")
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.directory,
                                        env=NATIVE, **self.popen_args())
        log.close()
        wait_for_port(self.port, process=self.process)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def postgres_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[-3]))
    return os.path.dirname(found[-1]) if found else None


class Postgres(_Server):
    """A fresh cluster (user postgres, trust authentication) served on TCP
    127.0.0.1 only; stopped by SIGINT (fast shutdown)."""

    stop_signal = signal.SIGINT

    def __init__(self):
        super().__init__("connleak-session-postgres-", ServiceUser("connleak-pg"))
        binaries = postgres_bin()
        data = os.path.join(self.directory, "data")
        subprocess.run([os.path.join(binaries, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                        "--no-sync", "-E", "UTF8", "--locale=C"], check=True, capture_output=True,
                       timeout=TIMEOUT, cwd=self.directory, env=NATIVE, **self.popen_args())
        self.start([os.path.join(binaries, "postgres"), "-D", data, "-p", str(self.port),
                    "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.directory}",
                    "-c", "fsync=off", "-c", "max_connections=20"])


class MariaDb(_Server):
    """A fresh data directory (root without a password) served on TCP
    127.0.0.1 only, no unix socket shared with the system's."""

    def __init__(self):
        super().__init__("connleak-session-mariadb-")
        data = os.path.join(self.directory, "data")
        root = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
                        "--skip-test-db", *root], check=True, capture_output=True, timeout=TIMEOUT * 2, env=NATIVE)
        self.start(["mariadbd", "--no-defaults", f"--datadir={data}", f"--port={self.port}", "--bind-address=127.0.0.1",
                    f"--socket={os.path.join(self.directory, 'mysqld.sock')}", f"--pid-file={os.path.join(self.directory, 'mysqld.pid')}",
                    "--skip-grant-tables", "--skip-name-resolve", "--innodb-buffer-pool-size=16M", *root])
        time.sleep(0.2)
