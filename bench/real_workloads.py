"""Real programs for scripts/bench: what connleak costs a server, a client,
a shell that starts thousands of processes, and `connleak run` itself.

  nginx          /usr/sbin/nginx (1 worker) serving a 1 KiB file, loaded by
                 `wrk -t1 -c16`: requests/s, the server traced
  redis          redis-server loaded by `redis-benchmark -t set,get -c 16`:
                 SET+GET ops/s, once with the server traced (client native),
                 once with the client traced (server native)
  pgbench        PostgreSQL (Debian's, as an unprivileged user) and
                 `pgbench -S -c 4 -j 2` (select-only): tps, the client traced
  exec           `sh -c` looping over /bin/true (2000 processes; 300 with
                 --quick): wall time per process natively, under `connleak
                 run` (the whole tool: every process traced, then the report)
                 and with LD_PRELOAD alone (no report)
  short command  bench_leak_once (one leaked connection) and bench_leak_once
                 --close (none): wall ms natively and under `connleak run`;
                 the difference between the two `connleak run` times is
                 what the report's finding costs

Method: the same as scripts/bench's. Each repetition runs native first,
then every other configuration in an order that rotates from one repetition
to the next; a ratio is the median of the per-repetition ratios (tool /
native of the same repetition); native runs a second time in the rotation
as an A/A control (unless --no-control). Every server is started afresh for
each run (on a free 127.0.0.1 port, in a directory of its own, its output in
a log file there), warmed up untimed, measured, and stopped, so a traced run
starts from the same state as a native one and its trace is complete;
PostgreSQL, never traced (only pgbench is), runs once for its workload.
valgrind --track-fds=yes runs the same programs (fewer requests, fewer
processes: throughput and time per process stay comparable). Every server
is stopped by its signal, then its whole process group is killed, whatever
happened (failure, Ctrl-C).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

RUN_TIMEOUT_S = 300
READY_TIMEOUT_S = 60  # a server under valgrind takes seconds to listen
STOP_TIMEOUT_S = 30


@dataclasses.dataclass(frozen=True)
class Params:
    reps: int
    short_reps: int  # the short command takes ~30 ms: more repetitions, same time
    nginx_seconds: int  # wrk -d (whole seconds: wrk takes no fractions)
    redis_requests: int  # redis-benchmark -n, per test (SET, GET)
    pgbench_seconds: int
    exec_processes: int
    startup_processes: int  # /bin/true images per run of the start-up workload
    valgrind_exec_processes: int  # ~0.6 s per process under valgrind
    valgrind_divisor: int  # valgrind'd redis-benchmark runs redis_requests / this


# ~2.5 min on a 2-core VM (3 min with the other core busy).
QUICK = Params(reps=3, short_reps=10, nginx_seconds=2, redis_requests=15_000, pgbench_seconds=2,
               exec_processes=300, startup_processes=200, valgrind_exec_processes=5, valgrind_divisor=10)
# ~7.5 min on a 2-core VM; 6 repetitions are the fewest with a 95% CI of the median.
FULL = Params(reps=6, short_reps=25, nginx_seconds=3, redis_requests=40_000, pgbench_seconds=3,
              exec_processes=2000, startup_processes=500, valgrind_exec_processes=10, valgrind_divisor=10)

THROUGHPUT_TARGET = 0.97  # every server and client: >= this x native throughput
STARTUP_TARGET_MS = 0.3  # one traced process image (/bin/true): <= this many ms more than native
EXEC_TARGET = 1.10  # the exec-heavy script under connleak run: <= this x native
REPORT_COST_TARGET_MS = 10.0  # the short command's finding: <= this many ms


class RunFailed(Exception):
    pass


class Skipped(Exception):
    """A workload that cannot run here (a tool missing, set-up failed)."""


# ------------------------------------------------------------ processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, read from /proc/net/tcp:
    no probe connection, which would be one more client in a traced server's
    trace."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(fields[1] == wanted and fields[3] == "0A"  # TCP_LISTEN
                   for fields in (line.split() for line in f.readlines()[1:]))


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL to everything in proc's process group (its own session), so no
    worker or child outlives the bench."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None,
        timeout: float = RUN_TIMEOUT_S) -> tuple[str, int]:
    """Runs argv in a session of its own; returns (stdout, wall ns from fork
    to exit). Raises RunFailed on a non-zero status or a time-out."""
    start = time.monotonic_ns()
    try:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        raise RunFailed(f"cannot run {argv[0]}: {e}") from e
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise RunFailed(f"{Path(argv[0]).name} timed out after {timeout:.0f} s")
    except BaseException:  # Ctrl-C: the child is in its own session, end it here
        kill_group(proc)
        raise
    elapsed = time.monotonic_ns() - start
    if proc.returncode != 0:
        tail = "\n".join(err.decode(errors="replace").strip().splitlines()[-4:])
        raise RunFailed(f"{Path(argv[0]).name}: exit status {proc.returncode}: {tail}")
    return out.decode(errors="replace"), elapsed


class Server:
    """A server process in a session of its own, output in a log file, up
    once it listens on 127.0.0.1:port. Leaving the with block stops it with
    stop_signal, and then kills its process group whatever happened."""

    def __init__(self, argv: list[str], env: dict[str, str], directory: Path, port: int,
                 stop_signal: int = signal.SIGTERM, popen_args: dict | None = None):
        self.argv, self.env, self.directory, self.port = argv, env, directory, port
        self.stop_signal = stop_signal
        self.popen_args = popen_args or {}
        self.log = directory / "server.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        with open(self.log, "wb") as log:
            try:
                self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.directory,
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True, **self.popen_args)
            except OSError as e:
                raise RunFailed(f"cannot run {self.argv[0]}: {e}") from e
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not listening(self.port):
            if self.proc.poll() is not None:
                raise RunFailed(f"{Path(self.argv[0]).name} exited with status {self.proc.returncode} "
                                f"before listening: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise RunFailed(f"{Path(self.argv[0]).name} did not listen on 127.0.0.1:{self.port} "
                                f"within {READY_TIMEOUT_S} s")
            time.sleep(0.02)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RunFailed(f"{Path(self.argv[0]).name} died during the run (status "
                            f"{self.proc.returncode}): {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return " / ".join(self.log.read_text(errors="replace").strip().splitlines()[-3:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(self.stop_signal)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        kill_group(self.proc)  # workers and children the leader left behind

    def __exit__(self, *exc) -> None:
        self.stop()


class ServiceUser:
    """Who PostgreSQL (which refuses root) runs as: as root, the system user
    `name`, created when missing; else the current user. The same as
    tests/corpus/corpus_harness.py's ServiceUser, which the session tests'
    PostgreSQL uses (same user name), without that module's test set-up."""

    def __init__(self, name: str):
        self.switch = os.geteuid() == 0
        if not self.switch:
            name = pwd.getpwuid(os.geteuid()).pw_name
        else:
            try:
                pwd.getpwnam(name)
            except KeyError:
                try:
                    subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                                    "--shell", "/usr/sbin/nologin", "--user-group", name],
                                   check=True, capture_output=True, timeout=60)
                except (OSError, subprocess.SubprocessError) as e:
                    raise Skipped(f"cannot create the user {name} to run PostgreSQL as: {e}") from e
        entry = pwd.getpwnam(name)
        self.name, self.uid, self.gid = name, entry.pw_uid, entry.pw_gid

    def own(self, path: Path) -> None:
        if self.switch:
            os.chown(path, self.uid, self.gid)

    def popen_args(self) -> dict:
        return {"user": self.uid, "group": self.gid, "extra_groups": []} if self.switch else {}


# ------------------------------------------------------------- workloads


@dataclasses.dataclass
class Row:
    """One line of a table: `config` against `baseline`, and beside it
    `valgrind` (a configuration name) against the same baseline."""
    label: str
    config: str
    baseline: str = "native"
    valgrind: str | None = None


class Workload:
    """One program (or pair) measured in several configurations. measure()
    returns one number per run: a throughput (higher is better) or ns per
    unit (lower is better); the runner pairs them by repetition."""

    key = ""
    title = ""
    throughput = True  # else: a time
    approx_valgrind = False  # valgrind ran a smaller count: its ratio is marked ~

    def __init__(self, ctx: RealWorkloads):
        self.ctx = ctx
        self.p = ctx.params

    def missing(self) -> str | None:
        """Why it cannot run here (a program not installed), or None."""
        return None

    @contextlib.contextmanager
    def prepared(self):
        """Set-up shared by all its runs (a database), torn down at the end."""
        yield

    def configs(self) -> list[str]:
        """The configurations measured after native in each repetition."""
        raise NotImplementedError

    def rows(self) -> list[Row]:
        raise NotImplementedError

    def measure(self, config: str, d: Path) -> float:
        """One run in `config`; d is a fresh directory for its files (deleted after it)."""
        raise NotImplementedError

    def reps(self) -> int:
        return self.p.reps


def need(*programs: str) -> str | None:
    """None when every program is on the PATH (or, an absolute path, exists),
    else which are missing (the callers add their Debian packages)."""
    missing = [p for p in programs if not (os.path.exists(p) if p.startswith("/") else shutil.which(p))]
    return f"{', '.join(missing)} not installed" if missing else None


class Nginx(Workload):
    key = "nginx"
    title = "nginx"
    NGINX = "/usr/sbin/nginx"
    BODY = b"x" * 1023 + b"\n"

    def missing(self):
        why = need(self.NGINX, "wrk")
        return why and why + " (apt-get install nginx wrk)"

    def configs(self):
        return ["connleak"] + (["valgrind"] if self.ctx.valgrind else []) + self.ctx.control

    def rows(self):
        return [Row("nginx, server traced (wrk -c16)", "connleak", valgrind="valgrind")]

    def conf(self, d: Path, port: int) -> str:
        # As root, nginx's workers would switch to nobody, who cannot read the
        # bench's private (0700) directory: keep them as the current user.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
        temps = " ".join(f"{k}_temp_path {d}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return f"""{user}
daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{ worker_connections 256; }}
http {{
    # Logged as a production server would, buffered (a write per 64 KiB).
    access_log {d}/access.log combined buffer=64k;
    {temps}
    server {{
        listen 127.0.0.1:{port};
        root {d}/html;
    }}
}}
"""

    def measure(self, config, d):
        (d / "html").mkdir()
        (d / "html" / "file").write_bytes(self.BODY)
        port = free_port()
        (d / "nginx.conf").write_text(self.conf(d, port))
        argv = [self.NGINX, "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "error.log")]
        wrapper, env, traces = self.ctx.wrap(config, "connleak", "valgrind", d)
        url = f"http://127.0.0.1:{port}/file"
        with Server(wrapper + argv, env, d, port, stop_signal=signal.SIGQUIT) as server:
            self.wrk(url, 1)  # warm-up, untimed: valgrind translates the hot paths first
            rps = self.wrk(url, self.p.nginx_seconds)
            server.check_alive()
        self.ctx.check_traces(traces)
        return rps

    def wrk(self, url: str, seconds: int) -> float:
        out, _ = run(["wrk", "-t1", "-c16", f"-d{seconds}s", url], self.ctx.env)
        if "Non-2xx" in out:
            raise RunFailed("nginx answered errors: " + out.strip()[-200:])
        found = re.search(r"Requests/sec:\s*([\d.]+)", out)
        if not found:
            raise RunFailed(f"no Requests/sec in wrk's output: {out.strip()[-200:]!r}")
        return float(found.group(1))


class Redis(Workload):
    key = "redis"
    title = "redis"

    def missing(self):
        why = need("redis-server", "redis-benchmark")
        return why and why + " (apt-get install redis-server redis-tools)"

    def configs(self):
        vg = ["valgrind", "client-valgrind"] if self.ctx.valgrind else []
        return ["connleak", "client-connleak"] + vg + self.ctx.control

    def rows(self):
        return [Row("redis-server traced, redis-benchmark native", "connleak", valgrind="valgrind"),
                Row("redis-benchmark traced, redis-server native", "client-connleak", valgrind="client-valgrind")]

    def measure(self, config, d):
        port = free_port()
        server_wrap, server_env, server_traces = self.ctx.wrap(config, "connleak", "valgrind", d)
        client_wrap, client_env, client_traces = self.ctx.wrap(config, "client-connleak", "client-valgrind", d)
        requests = self.p.redis_requests
        if "valgrind" in config:
            requests //= self.p.valgrind_divisor
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", str(d)]
        with Server(server_wrap + argv, server_env, d, port) as server:
            self.benchmark(port, 2000, [], self.ctx.env)  # warm-up, untimed, client native
            ops = self.benchmark(port, requests, client_wrap, client_env)
            server.check_alive()
        self.ctx.check_traces(server_traces or client_traces)
        return ops

    def benchmark(self, port: int, requests: int, wrapper: list[str], env: dict[str, str]) -> float:
        """SET+GET operations per second: all the requests over the time both tests took."""
        out, _ = run(wrapper + ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-q", "-n", str(requests),
                                "-t", "set,get", "-c", "16", "--csv"], env)
        rps = [float(m.group(1)) for m in re.finditer(r'^"(?:SET|GET)","([\d.]+)"', out, re.M)]
        if len(rps) != 2 or min(rps) <= 0:
            raise RunFailed(f"unexpected redis-benchmark output {out.strip()[-200:]!r}")
        return len(rps) / sum(1 / r for r in rps)


class Pgbench(Workload):
    key = "pgbench"
    title = "pgbench"

    def __init__(self, ctx):
        super().__init__(ctx)
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[-3]))
        self.bindir = Path(found[-1]).parent if found else None
        self.port = 0

    def missing(self):
        if self.bindir is None:
            return "PostgreSQL is not installed (apt-get install postgresql)"
        return need("pgbench")

    def configs(self):
        return ["connleak"] + (["valgrind"] if self.ctx.valgrind else []) + self.ctx.control

    def rows(self):
        return [Row("pgbench -S -c4 -j2, client traced", "connleak", valgrind="valgrind")]

    @contextlib.contextmanager
    def prepared(self):
        """One fresh cluster (trust authentication, TCP on 127.0.0.1 only,
        its unix socket in its own directory), initialized for pgbench, for
        all the runs: the server is never traced. Its directory is outside
        the bench's private one, which the server's user cannot enter."""
        user = ServiceUser("connleak-pg")
        d = Path(tempfile.mkdtemp(prefix="connleak-bench-pg-"))
        try:
            os.chmod(d, 0o755)
            user.own(d)
            self.port = free_port()
            self.initdb(d, user)
            argv = [str(self.bindir / "postgres"), "-D", str(d / "data"), "-p", str(self.port),
                    "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={d}",
                    "-c", "fsync=off", "-c", "max_connections=20"]
            try:
                with Server(argv, self.ctx.env, d, self.port, signal.SIGINT, user.popen_args()):
                    self.wait_accepting()
                    run(self.pgbench("-i", "-s", "1", "-q"), self.ctx.env)
                    run(self.pgbench(*self.select_only(1)), self.ctx.env)  # warm the server's caches
                    yield
            except RunFailed as e:
                raise Skipped(f"PostgreSQL set-up failed: {e}") from e
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def initdb(self, d: Path, user: ServiceUser) -> None:
        try:
            subprocess.run([str(self.bindir / "initdb"), "-D", str(d / "data"), "-U", "postgres", "--auth=trust",
                            "--no-sync", "-E", "UTF8", "--locale=C"], check=True, capture_output=True,
                           timeout=120, cwd=d, env=self.ctx.env, **user.popen_args())
        except (OSError, subprocess.SubprocessError) as e:
            detail = getattr(e, "stderr", b"") or b""
            raise Skipped(f"initdb failed: {e} {detail.decode(errors='replace')[-200:]}") from e

    def wait_accepting(self) -> None:
        """Listening is not enough: until its start-up ends, PostgreSQL refuses
        connections ("the database system is starting up")."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while subprocess.run([str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                             env=self.ctx.env).returncode != 0:
            if time.monotonic() > deadline:
                raise RunFailed("PostgreSQL did not accept connections in time")
            time.sleep(0.1)

    def pgbench(self, *args: str) -> list[str]:
        return ["pgbench", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", *args, "postgres"]

    def select_only(self, seconds: int) -> list[str]:
        # -n: no vacuum before each run (select-only changes nothing to vacuum)
        return ["-c", "4", "-j", "2", "-T", str(seconds), "-S", "-n"]

    def measure(self, config, d):
        wrapper, env, traces = self.ctx.wrap(config, "connleak", "valgrind", d)
        out, _ = run(wrapper + self.pgbench(*self.select_only(self.p.pgbench_seconds)), env, cwd=d)
        self.ctx.check_traces(traces)
        # PostgreSQL >= 14 prints one tps line, "(without initial connection
        # time)"; older ones also print "(including connections establishing)".
        found = re.search(r"tps = ([\d.]+) \((?:without initial connection time|excluding connections "
                          r"establishing)\)", out) or re.search(r"tps = ([\d.]+)", out)
        if not found:
            raise RunFailed(f"no tps in pgbench's output: {out.strip()[-200:]!r}")
        return float(found.group(1))


class ExecLoop(Workload):
    key = "exec"
    title = "exec-heavy script"
    throughput = False
    approx_valgrind = True  # fewer processes: sh's own start-up weighs more

    def missing(self):
        return need("sh", "/bin/true")

    def configs(self):
        return ["connleak-run", "preload"] + (["valgrind"] if self.ctx.valgrind else []) + self.ctx.control

    def rows(self):
        return [Row(f"sh loop of {self.p.exec_processes:,} /bin/true, connleak run", "connleak-run",
                    valgrind="valgrind"),
                Row("  the same, LD_PRELOAD only (no report)", "preload")]

    @staticmethod
    def script(processes: int) -> list[str]:
        return ["sh", "-c", f"i=0; while [ $i -lt {processes} ]; do /bin/true; i=$((i+1)); done"]

    def measure(self, config, d):
        """ns per process: valgrind runs fewer of them than the others."""
        processes = self.p.valgrind_exec_processes if config == "valgrind" else self.p.exec_processes
        argv = self.script(processes)
        env = self.ctx.env
        if config == "connleak-run":
            argv = self.ctx.connleak_run(d, Path("/dev/null")) + argv
        elif config == "valgrind":
            argv = self.ctx.valgrind + ["--trace-children=yes"] + argv
        elif config == "preload":
            _, env, traces = self.ctx.wrap("preload", "preload", None, d)
        _, wall = run(argv, env, cwd=d)
        if config in ("connleak-run", "preload"):
            self.ctx.check_traces(d / "traces")
        return wall / processes


class StartUp(Workload):
    """One process image's start-up and exit under the shim: /bin/true
    spawned one after another (os.posix_spawn, waited for), natively and
    with LD_PRELOAD. The spawning costs both sides alike; the difference per
    process is the shim's."""

    key = "startup"
    title = "process start-up"
    throughput = False

    def missing(self):
        return need("/bin/true")

    def configs(self):
        return ["preload"] + self.ctx.control

    def rows(self):
        return [Row("one /bin/true image, LD_PRELOAD", "preload")]

    def measure(self, config, d):
        """ns per process."""
        _, env, traces = self.ctx.wrap(config, "preload", None, d)
        count = self.p.startup_processes
        start = time.monotonic_ns()
        for _ in range(count):
            pid = os.posix_spawn("/bin/true", ["/bin/true"], env)
            _, status = os.waitpid(pid, 0)
            if status != 0:
                raise RunFailed(f"/bin/true exited with wait status {status}")
        wall = time.monotonic_ns() - start
        self.ctx.check_traces(traces)
        return wall / count


class ShortCommand(Workload):
    """bench_leak_once and bench_leak_once --close: process wall times.
    Both variants are configurations of one workload so that each
    repetition runs them side by side (their difference is a target)."""

    key = "short"
    title = "short command"
    throughput = False

    def __init__(self, ctx):
        super().__init__(ctx)
        self.program = ctx.bin / "bench_leak_once"

    def missing(self):
        return None if self.program.exists() else "bench_leak_once was not built"

    def configs(self):
        return (["native-close", "run-leak", "run-close"] + (["valgrind"] if self.ctx.valgrind else [])
                + self.ctx.control)

    def rows(self):
        return [Row("bench_leak_once (1 finding)", "run-leak", valgrind="valgrind"),
                Row("bench_leak_once --close (no findings)", "run-close", baseline="native-close")]

    def reps(self):
        return self.p.short_reps

    def measure(self, config, d):
        argv = [str(self.program)] + (["--close"] if config.endswith("close") else [])
        if config.startswith("run-"):
            argv = self.ctx.connleak_run(d, d / "report.txt") + argv
        elif config == "valgrind":
            argv = self.ctx.valgrind + argv
        _, wall = run(argv, self.ctx.env, cwd=d)
        if config.startswith("run-") and not (d / "report.txt").stat().st_size:
            raise RunFailed("connleak run wrote an empty report")
        return float(wall)


WORKLOADS = [Nginx, Redis, Pgbench, StartUp, ExecLoop, ShortCommand]


# ---------------------------------------------------------------- runner


@dataclasses.dataclass
class Target:
    text: str  # "nginx, server traced >= 0.97x native throughput"
    verdict: str  # "met", "NOT MET", "not measured"
    detail: str
    values: list[float]  # the per-repetition values the verdict is on (for a CI)
    limit: float


class RealWorkloads:
    def __init__(self, *, shim: Path, cli: Path, bin_dir: Path, env: dict[str, str], tmp: Path, quick: bool,
                 valgrind: list[str] | None, control: bool, say):
        self.shim, self.cli, self.bin, self.env, self.tmp = shim, cli, bin_dir, env, tmp
        self.params = QUICK if quick else FULL
        self.valgrind = valgrind or []
        self.control = ["native-again"] if control else []
        self.say = say
        # samples[workload][config][rep] = value (throughput, or ns)
        self.samples: dict[str, dict[str, dict[int, float]]] = {}
        self.failures: dict[tuple[str, str], str] = {}
        self.notes: list[str] = []
        self.workloads = [cls(self) for cls in WORKLOADS]
        self.measured: list[Workload] = []
        self.skipped: dict[str, str] = {}  # workload key: why

    # -- helpers for the workloads

    def wrap(self, config: str, traced: str, valgrind: str | None, d: Path):
        """(wrapper argv, env, trace dir or None) for one side of a run: traced
        (LD_PRELOAD, a fresh CONNLEAK_OUTPUT_DIR in d) when config is `traced`,
        under valgrind when it is `valgrind`, else native."""
        if config == traced:
            traces = d / "traces"
            traces.mkdir()
            return [], dict(self.env, LD_PRELOAD=str(self.shim), CONNLEAK_OUTPUT_DIR=str(traces)), traces
        if config == valgrind:
            return self.valgrind + [f"--log-file={d}/valgrind.%p.log"], self.env, None
        return [], self.env, None

    def connleak_run(self, d: Path, report: Path) -> list[str]:
        return [str(self.cli), "run", "--report", str(report), "--output-dir", str(d / "traces"), "--"]

    @staticmethod
    def check_traces(traces: Path | None) -> None:
        if traces is not None and not any(traces.iterdir()):
            raise RunFailed("the shim wrote no trace (did it load?)")

    # -- the runs

    def run(self) -> None:
        self.say(f"\nreal programs: {', '.join(w.title for w in self.workloads)}; native first, then the "
                 "others in rotating order, every repetition")
        for w in self.workloads:
            why = w.missing()
            if why:
                self.skip(w, why)
                continue
            try:
                with w.prepared():
                    self.repeat(w)
            except Skipped as e:
                self.skip(w, str(e))

    def skip(self, w: Workload, why: str) -> None:
        msg = f"{w.title}: skipped, {why}"
        self.skipped[w.key] = msg
        self.say("  " + msg)
        self.notes.append(msg)

    def repeat(self, w: Workload) -> None:
        configs = w.configs()
        reps = w.reps()
        self.say(f"  {w.title}: {reps} repetitions of native, {', '.join(configs)}")
        for rep in range(reps):
            t0 = time.monotonic()
            k = rep % len(configs)
            for config in ["native"] + configs[k:] + configs[:k]:
                self.sample(w, config, rep)
            self.say(f"    repetition {rep + 1}/{reps} in {time.monotonic() - t0:.1f} s: " + self.progress(w, rep))
        self.measured.append(w)

    def sample(self, w: Workload, config: str, rep: int) -> None:
        if (w.key, config) in self.failures:
            return
        last = "failed"
        for attempt in (1, 2):  # one retry: a port taken meanwhile, a transient failure
            # A fresh directory per run, deleted right after it: 2000 traced
            # processes leave ~16 MB of traces, too much to keep for the whole run.
            d = Path(tempfile.mkdtemp(prefix=f"{w.key}-{config}-", dir=self.tmp))
            try:
                self.samples.setdefault(w.key, {}).setdefault(config, {})[rep] = w.measure(config, d)
                return
            except RunFailed as e:
                last = str(e)
                self.say(f"    {w.title} / {config}: run failed (attempt {attempt}): {last}")
            finally:
                shutil.rmtree(d, ignore_errors=True)
        self.failures[(w.key, config)] = last

    def progress(self, w: Workload, rep: int) -> str:
        parts = []
        for row in w.rows():
            ratios = self.ratios(w.key, row.config, row.baseline)
            if ratios:
                parts.append(f"{row.config} {ratios[-1]:.3f}x")
        return ", ".join(parts) or "no ratio yet"

    # -- statistics

    def ratios(self, key: str, config: str, baseline: str = "native") -> list[float]:
        """config / baseline of the same repetition, over the repetitions with both."""
        s = self.samples.get(key, {})
        base, tool = s.get(baseline, {}), s.get(config, {})
        return [tool[r] / base[r] for r in sorted(tool) if r in base and base[r] > 0]

    def median(self, key: str, config: str) -> float | None:
        values = list(self.samples.get(key, {}).get(config, {}).values())
        return statistics.median(values) if values else None

    def median_ratio(self, key: str, config: str, baseline: str = "native") -> float | None:
        ratios = self.ratios(key, config, baseline)
        return statistics.median(ratios) if ratios else None

    def differences_ms(self, key: str, config: str, baseline: str) -> list[float]:
        s = self.samples.get(key, {})
        base, tool = s.get(baseline, {}), s.get(config, {})
        return [(tool[r] - base[r]) / 1e6 for r in sorted(tool) if r in base]

    # -- output

    def cell(self, w: Workload, config: str | None, fmt) -> str:
        if config is None:
            return ""
        if (w.key, config) in self.failures:
            return "FAILED"
        value = self.median(w.key, config)
        return "-" if value is None else fmt(value)

    def ratio_cell(self, w: Workload, config: str | None, baseline: str, approx: bool = False) -> str:
        r = self.median_ratio(w.key, config, baseline) if config else None
        if r is None:
            return "-" if config else ""
        text = f"{r:.3f}x" if r < 2 else (f"{r:.2f}x" if r < 100 else f"{r:.0f}x")
        return ("~" if approx else "") + text

    def control_cell(self, w: Workload) -> str:
        if not self.control:
            return "off"
        return self.ratio_cell(w, "native-again", "native")

    def tables(self) -> list[tuple[list[str], list[str], list[list[str]]]]:
        """(lines above, header, rows) of each table, for scripts/bench's table()."""
        out = []
        n_reps = f"{self.params.reps} repetitions"
        rows = [self.throughput_row(w, row) for w in self.measured if w.throughput for row in w.rows()]
        if rows:
            out.append(([f"Real programs, throughput (higher is better), median of {n_reps}; ratio = median "
                         "over repetitions of (tool / native of the same repetition); A/A = native run "
                         "twice (the noise floor).",
                         f"wrk {self.params.nginx_seconds} s; redis-benchmark -n {self.params.redis_requests:,} "
                         f"per test (valgrind: /{self.params.valgrind_divisor}); pgbench -T "
                         f"{self.params.pgbench_seconds}; every server fresh per run, warmed up untimed; "
                         "valgrind runs on the traced side."],
                        ["workload", "native", "connleak", "ratio", "valgrind", "ratio", "A/A"], rows))
        exec_w = [w for w in self.measured if w.key in ("startup", "exec")]
        if exec_w:
            out.append(([f"Process start-up and an exec-heavy script, wall time per process (lower is better), "
                         f"median of {n_reps}; start-up: {self.params.startup_processes} /bin/true spawned in a "
                         f"row; valgrind --trace-children=yes ran {self.params.valgrind_exec_processes} processes "
                         "of the script (~: its sh start-up weighs more)."],
                        ["workload", "native", "connleak", "ratio", "valgrind", "ratio", "A/A"],
                        [self.time_row(w, row) for w in exec_w for row in w.rows()]))
        short_w = [w for w in self.measured if w.key == "short"]
        if short_w:
            out.append(self.short_table(short_w[0]))
        return out

    def throughput_row(self, w: Workload, row: Row) -> list[str]:
        per_s = lambda v: f"{v:,.0f}/s"  # noqa: E731
        return [row.label, self.cell(w, "native", per_s), self.cell(w, row.config, per_s),
                self.ratio_cell(w, row.config, row.baseline),
                self.cell(w, row.valgrind, per_s) if self.valgrind else ("skipped" if row.valgrind else ""),
                self.ratio_cell(w, row.valgrind if self.valgrind else None, row.baseline),
                self.control_cell(w)]

    def time_row(self, w: Workload, row: Row) -> list[str]:
        ms = lambda v: f"{v / 1e6:.2f} ms"  # noqa: E731
        valgrind = row.valgrind if self.valgrind else None
        return [row.label, self.cell(w, row.baseline, ms), self.cell(w, row.config, ms),
                self.ratio_cell(w, row.config, row.baseline),
                self.cell(w, valgrind, ms) if valgrind or not row.valgrind else "skipped",
                self.ratio_cell(w, valgrind, row.baseline, approx=w.approx_valgrind),
                self.control_cell(w) if row.config == w.rows()[0].config else ""]

    def short_table(self, w: Workload):
        ms = lambda v: f"{v / 1e6:.1f} ms"  # noqa: E731
        rows = []
        for row in w.rows():
            diffs = self.differences_ms(w.key, row.config, row.baseline)
            valgrind = row.valgrind if self.valgrind else None
            rows.append([row.label, self.cell(w, row.baseline, ms), self.cell(w, row.config, ms),
                         f"+{statistics.median(diffs):.1f} ms" if diffs else "-",
                         self.cell(w, valgrind, ms) if valgrind or not row.valgrind else "skipped",
                         self.ratio_cell(w, valgrind, row.baseline)])
        cost = self.differences_ms(w.key, "run-leak", "run-close")
        rows.append(["the report's cost of the finding (1 finding - none)", "", "",
                     f"{statistics.median(cost):+.1f} ms" if cost else "-", "", ""])
        intro = [f"Short command, whole process timed from outside (fork+exec to exit), median of "
                 f"{self.params.short_reps} repetitions; connleak = connleak run --report FILE; "
                 "difference = median of the per-repetition differences."]
        return intro, ["command", "native", "connleak run", "difference", "valgrind", "ratio"], rows

    def targets(self) -> list[Target]:
        out = []
        for w in self.workloads:
            if w.throughput:
                out += [self.ratio_target(w, row, f"{row.label} >= {THROUGHPUT_TARGET:.2f}x native throughput",
                                          THROUGHPUT_TARGET, higher=True) for row in w.rows()]
            elif w.key == "startup":
                out.append(self.startup_target())
            elif w.key == "exec":
                out.append(self.ratio_target(w, w.rows()[0], f"exec-heavy script under connleak run <= "
                                             f"{EXEC_TARGET:.2f}x native", EXEC_TARGET, higher=False))
        out.append(self.report_cost_target())
        return out

    def startup_target(self) -> Target:
        text = f"one traced /bin/true image <= {STARTUP_TARGET_MS:.1f} ms more than native"
        extra = self.differences_ms("startup", "preload", "native")
        if not extra:
            return Target(text, "not measured", self.why_not("startup", "preload"), [], 0)
        median = statistics.median(extra)
        return Target(text, "met" if median <= STARTUP_TARGET_MS else "NOT MET",
                      f"{median:+.2f} ms; the per-repetition differences in ms", extra, STARTUP_TARGET_MS)

    def report_cost_target(self) -> Target:
        text = f"short command's report with 1 finding <= {REPORT_COST_TARGET_MS:.0f} ms more than with none"
        cost = self.differences_ms("short", "run-leak", "run-close")
        if not cost:
            return Target(text, "not measured", self.why_not("short", "run-leak"), [], 0)
        median = statistics.median(cost)
        return Target(text, "met" if median <= REPORT_COST_TARGET_MS else "NOT MET",
                      f"{median:+.1f} ms; the per-repetition differences in ms", cost, REPORT_COST_TARGET_MS)

    def ratio_target(self, w: Workload, row: Row, text: str, limit: float, higher: bool) -> Target:
        ratios = self.ratios(w.key, row.config, row.baseline)
        if not ratios:
            return Target(text, "not measured", self.why_not(w.key, row.config), [], limit)
        r = statistics.median(ratios)
        met = r >= limit if higher else r <= limit
        return Target(text, "met" if met else "NOT MET", f"{r:.3f}x", ratios, limit)

    def why_not(self, key: str, config: str) -> str:
        if (key, config) in self.failures:
            return "failed: " + self.failures[(key, config)]
        return self.skipped.get(key, "not run")

    def failure_notes(self) -> list[str]:
        return [f"FAILED {key} / {config}: {why}" for (key, config), why in sorted(self.failures.items())]
