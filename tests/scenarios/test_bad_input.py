"""Bad input gets one clear line and a non-zero exit, never a crash."""

import os
import shutil
import subprocess
import tempfile
import unittest

from harness import CONNLEAK, LoopbackServer, connleak_run, program


def report(*paths):
    return subprocess.run([CONNLEAK, "report", *paths], capture_output=True, text=True, timeout=60)


class BadTraces(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="connleak-bad-")
        traces = os.path.join(self.work, "traces")
        with LoopbackServer() as server:
            subprocess.run([CONNLEAK, "run", "--output-dir", traces, "--report", os.devnull, "--",
                            program("three_connects"), str(server.port)], check=True, capture_output=True)
        [name] = os.listdir(traces)
        self.trace = os.path.join(traces, name)

    def tearDown(self):
        shutil.rmtree(self.work)

    def assert_one_line_error(self, result, path, words):
        self.assertNotEqual(result.returncode, 0)
        self.assertLess(result.returncode, 128, "must not die from a signal")
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn(path, lines[0])
        self.assertIn(words, lines[0])

    def test_trace_file_is_private(self):
        self.assertEqual(os.stat(self.trace).st_mode & 0o777, 0o600)

    def test_good_trace_reports(self):
        result = report(self.trace)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("SUMMARY: connleak: 1 leaked-connection", result.stdout)

    def test_truncated_trace(self):
        size = os.path.getsize(self.trace)
        for cut in (size - 3, size - 24, size // 2, 200, 100):
            cut_path = os.path.join(self.work, f"cut-{cut}.trace")
            with open(self.trace, "rb") as f, open(cut_path, "wb") as out:
                out.write(f.read(cut))
            result = report(cut_path)
            with self.subTest(cut=cut):
                self.assertNotEqual(result.returncode, 0)
                self.assertLess(result.returncode, 128)
                self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
                self.assertIn(cut_path, result.stderr)

    def test_random_file(self):
        path = os.path.join(self.work, "random.trace")
        with open(path, "wb") as f:
            f.write(os.urandom(4096))
        self.assert_one_line_error(report(path), path, "not a connleak trace")

    def test_corrupt_record(self):
        data = bytearray(open(self.trace, "rb").read())
        data[160 + 2] = 3  # first record's size: 3 is not a multiple of 8
        path = os.path.join(self.work, "corrupt.trace")
        open(path, "wb").write(data)
        self.assert_one_line_error(report(path), path, "corrupt record")

    def test_missing_file(self):
        path = os.path.join(self.work, "nope.trace")
        self.assert_one_line_error(report(path), path, "no such file")

    def test_empty_directory(self):
        path = os.path.join(self.work, "empty")
        os.mkdir(path)
        self.assert_one_line_error(report(path), path, "no connleak traces")


class Untraceable(unittest.TestCase):
    def test_missing_command(self):
        run = connleak_run(["/no/such/program"])
        self.assertEqual(run.returncode, 127)
        self.assertIn("/no/such/program", run.stderr)

    def test_static_binary_started_by_a_traced_program_is_named(self):
        static = shutil.which("ldconfig") or "/sbin/ldconfig"
        run = connleak_run(["/bin/sh", "-c", f"exec {static} -p >/dev/null"])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn(f"{static} is statically linked", run.stderr)

    def test_static_binary(self):
        static = shutil.which("ldconfig") or "/sbin/ldconfig"
        run = connleak_run([static, "-p"])
        self.assertEqual(run.returncode, 125, run.stderr)
        self.assertIn("statically linked", run.stderr)
        self.assertEqual(len(run.stderr.strip().splitlines()), 1, run.stderr)


if __name__ == "__main__":
    unittest.main()


class TraceDirectories(BadTraces):
    """What `report` and `run` do with the files around the traces."""

    def test_fifo_given_as_a_trace_is_refused_at_once(self):
        fifo = os.path.join(self.work, "connleak.1.0.trace")
        os.mkfifo(fifo)
        result = report(fifo)  # a hang here fails by timeout
        self.assert_one_line_error(result, fifo, "not a regular file")

    def test_symlink_to_a_trace_is_not_followed(self):
        link = os.path.join(self.work, "connleak.2.0.trace")
        os.symlink(self.trace, link)
        self.assert_one_line_error(report(link), link, "symbolic link")

    def test_unusable_file_in_a_directory_is_left_out_with_a_warning(self):
        traces = os.path.dirname(self.trace)
        open(os.path.join(traces, "connleak.99999.0.trace"), "wb").close()  # a full disk's 0-byte trace
        with open(os.path.join(traces, "connleak.99998.0.trace"), "wb") as planted:
            planted.write(b"not a trace at all, but long enough to hold a header" * 8)
        result = report(traces)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("SUMMARY: connleak: 1 leaked-connection", result.stdout)
        self.assertIn("connleak.99999.0.trace", result.stderr)
        self.assertIn("connleak.99998.0.trace", result.stderr)
        self.assertIn("left out of this report", result.stderr)

    def test_run_output_directory_is_private(self):
        traces = os.path.join(self.work, "fresh", "traces")
        subprocess.run([CONNLEAK, "run", "--output-dir", traces, "--report", os.devnull, "--", "/bin/true"],
                       check=True, capture_output=True, timeout=60)
        self.assertEqual(os.stat(traces).st_mode & 0o777, 0o700)

    def test_reused_output_directory_reports_only_this_run(self):
        traces = os.path.dirname(self.trace)  # holds three_connects' trace already
        run = subprocess.run([CONNLEAK, "run", "--output-dir", traces, "--format", "json", "--report",
                              os.path.join(self.work, "r.json"), "--", "/bin/true"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        with open(os.path.join(self.work, "r.json")) as f:
            import json
            result = json.load(f)
        self.assertEqual([p["exe"] for p in result["processes"]], ["/bin/true"])  # as it was run
        self.assertEqual(result["findings"], [])
        self.assertIn("from an earlier run", run.stderr)

    def test_missing_output_dir_of_a_preloaded_shim_is_created(self):
        traces = os.path.join(self.work, "not", "yet")
        env = {**os.environ, "LD_PRELOAD": os.path.join(os.path.dirname(CONNLEAK), os.pardir, "lib",
                                                        "libconnleak.so"), "CONNLEAK_OUTPUT_DIR": traces}
        done = subprocess.run(["/bin/true"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0)
        self.assertEqual(done.stderr, "")
        self.assertEqual(len(os.listdir(traces)), 1)
        self.assertEqual(os.stat(traces).st_mode & 0o777, 0o700)
