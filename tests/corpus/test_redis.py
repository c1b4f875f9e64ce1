"""redis-server and redis-benchmark (Debian's redis-server and
redis-tools), each under a `connleak run` of its own. The server listens on
a free 127.0.0.1 port and on a unix socket in the test's directory, with
persistence off (--save '' --appendonly no).

  benchmark, then SIGTERM   redis-benchmark's clients all closed (no
                            findings); once the server has seen them go,
                            SIGTERM: it closes its listeners and exits
                            (no findings)
  SHUTDOWN command          `redis-cli shutdown nosave`: the server closes
                            its listeners and exits without closing the
                            connection the command came on (strace of the
                            native run: accept4 -> fd 7, exit_group with it
                            open); that connection is the one finding,
                            still ESTABLISHED (redis-cli waits for an
                            answer), with exactly the command's 30 bytes
                            received and nothing sent
"""

import os
import shutil
import signal
import unittest

from corpus_harness import CorpusTest, Traced, brief, connleak_run, free_port, gone, read_pid_file, socket_fds, \
    wait_for_port, wait_until

SERVER = shutil.which("redis-server")
BENCHMARK = shutil.which("redis-benchmark")
CLI = shutil.which("redis-cli")
LISTENERS = 2  # TCP on 127.0.0.1, and the unix socket


@unittest.skipUnless(SERVER and BENCHMARK and CLI,
                     "redis is not installed (Debian packages redis-server and redis-tools)")
class Redis(CorpusTest):
    def setUp(self):
        self.directory = self.temp_dir("redis")
        self.port = free_port()
        self.pid_file = os.path.join(self.directory, "redis.pid")
        self.server = Traced([SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--daemonize", "no", "--dir", self.directory,
                              "--unixsocket", os.path.join(self.directory, "redis.sock"),
                              "--pidfile", self.pid_file, "--logfile", os.path.join(self.directory, "redis.log")],
                             cwd=self.directory)
        self.addCleanup(self.server.cleanup)
        wait_for_port(self.port, process=self.server.process)
        self.pid = wait_until(lambda: read_pid_file(self.pid_file), "redis-server's pid file",
                              process=self.server.process)
        self.wait_idle()

    def wait_idle(self):
        """Until the server holds no connection: every client that ended
        has been seen to go (so none is open when it stops)."""
        wait_until(lambda: socket_fds(self.pid) == LISTENERS, "redis-server to hold only its listeners",
                   process=self.server.process)

    def finish_server(self):
        run = self.server.finish()
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assert_complete(run)
        self.assert_exited(run, count=1)
        self.assertTrue(gone(self.pid))
        return run

    def benchmark(self):
        run = connleak_run([BENCHMARK, "-h", "127.0.0.1", "-p", str(self.port), "-q", "-n", "2000", "-c", "10",
                            "-P", "4", "-t", "set,get,incr,lpush,lrange_100"])
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("LRANGE_100", run.stdout)
        self.assert_complete(run)
        self.assert_exited(run, count=1)
        return run

    def test_benchmark_then_sigterm(self):
        bench = self.benchmark()
        self.assert_no_findings(bench)
        self.assertGreaterEqual(bench.report["summary"]["sockets_opened"], 10 * 5)
        self.wait_idle()
        os.kill(self.pid, signal.SIGTERM)
        server = self.finish_server()
        self.assert_no_findings(server)
        self.assertGreaterEqual(server.report["summary"]["sockets_opened"], LISTENERS + 10 * 5)

    def test_shutdown_command(self):
        cli = connleak_run([CLI, "-h", "127.0.0.1", "-p", str(self.port), "shutdown", "nosave"])
        self.assert_complete(cli)
        self.assert_no_findings(cli)
        server = self.finish_server()
        self.assert_findings(server, [("leaked-connection", "error", 1)])
        finding = server.report["findings"][0]
        details = brief(server.report["findings"])
        instance = finding["instances"][0]
        self.assertEqual((instance["pid"], instance["family"], instance["protocol"], instance["local"],
                          instance["tcp_state"], instance["inherited"], instance["bytes_sent"],
                          instance["bytes_received"]),
                         (self.pid, "inet", "tcp", f"127.0.0.1:{self.port}", "ESTABLISHED", False, 0,
                          len(b"*2\r\n$8\r\nshutdown\r\n$6\r\nnosave\r\n")), details)
        self.assertTrue(instance["peer"].startswith("127.0.0.1:"), details)
        self.assertIn("accepted here", finding["message"], details)


if __name__ == "__main__":
    unittest.main()
