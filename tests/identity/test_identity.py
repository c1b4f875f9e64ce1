"""Hostile patterns: each runs natively and under `connleak run`, and must
show the same stdout, stderr and exit status (programs/*.c print return
values, errno names, fd numbers and fd listings). One test method per
pattern, so a failure names the pattern.

Timeouts everywhere: every program has a watchdog (status 99 after a hang),
every wait for a child a deadline ("child hung"), and the harness kills the
whole process tree of a run that outlives its timeout.

Besides the identity, a few tests check the report where the pattern could
blind the shim (closing every fd, 64 threads, SIGKILL).

Needs (Debian): libjemalloc2, libgoogle-perftools4, libtcmalloc-minimal4
(the allocator tests skip without them), libasan (gcc's -fsanitize=address).
"""

import glob
import json
import os
import random
import signal
import subprocess
import tempfile
import time
import unittest

from identity_harness import CONNLEAK, IdentityTest, program, run_traced

TIMEOUT = 20


def under_ulimit(n, name, *args):
    """argv that runs program `name` with its soft RLIMIT_NOFILE set to n
    before exec (the shell is traced too, and execs the program)."""
    return ["sh", "-c", f'ulimit -n {n} && exec "$0" "$@"', program(name), *args]


def findings(report, kind):
    return [f for f in report["findings"] if f["kind"] == kind]


def leaked_fds(report, kind):
    """The fds of every instance of findings of `kind`, sorted."""
    return sorted(i["fd"] for f in findings(report, kind) for i in f["instances"])


def shared_library(name):
    """The path of an installed shared library (by file name), or None."""
    for directory in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu",
                      "/usr/local/lib", "/usr/lib/aarch64-linux-gnu"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    found = glob.glob(f"/usr/lib*/**/{name}", recursive=True)
    return found[0] if found else None


class HostilePatterns(IdentityTest):
    def same(self, name, *args, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        return self.assert_identical([program(name), *args], **kwargs)

    # --- invalid pointers (badptr.c) -----------------------------------------

    def test_connect_bad_address(self):
        self.same("badptr", "connect_bad_address")

    def test_bind_bad_address(self):
        self.same("badptr", "bind_bad_address")

    def test_accept_bad_addr(self):
        self.same("badptr", "accept_bad_addr")

    def test_accept_bad_len_pointer(self):
        self.same("badptr", "accept_bad_len")

    def test_accept_addr_without_len(self):
        self.same("badptr", "accept_addr_without_len")

    def test_accept_len_without_addr(self):
        self.same("badptr", "accept_len_without_addr")

    def test_accept4_bad_pointers(self):
        self.same("badptr", "accept4_bad_pointers")

    def test_socketpair_bad_vector(self):
        self.same("badptr", "socketpair_bad_vector")

    def test_recvmsg_bad_msghdr(self):
        self.same("badptr", "recvmsg_bad_msghdr")

    def test_recvmsg_bad_control(self):
        self.same("badptr", "recvmsg_bad_control")

    def test_sendmsg_bad_msghdr(self):
        self.same("badptr", "sendmsg_bad_msghdr")

    def test_mmsg_bad_vectors(self):
        self.same("badptr", "mmsg_bad_vectors")

    def test_readv_writev_bad_iov(self):
        self.same("badptr", "readv_writev_bad_iov")

    def test_read_write_bad_buffers(self):
        self.same("badptr", "read_write_bad_buffers")

    def test_sendto_bad_destination(self):
        self.same("badptr", "sendto_bad_destination")

    def test_pipe2_bad_pointer(self):
        self.same("badptr", "pipe2_bad_pointer")

    def test_fcntl_lock_bad_pointer(self):
        self.same("badptr", "fcntl_lock_bad_pointer")

    def test_sendfile_bad_offset(self):
        self.same("badptr", "sendfile_bad_offset")

    def test_wait_bad_status_pointer(self):
        self.same("badptr", "wait_bad_status_pointer")

    def test_execve_bad_path(self):
        self.same("badptr", "execve_bad_path")

    def test_execve_bad_argv(self):
        self.same("badptr", "execve_bad_argv")

    def test_execve_bad_envp(self):
        self.same("badptr", "execve_bad_envp")

    def test_posix_spawn_bad_pointers(self):
        self.same("badptr", "posix_spawn_bad_pointers")

    def test_arguments_ending_at_an_unmapped_page(self):
        self.same("badptr", "page_edge_arguments")

    def test_out_pointers_into_read_only_memory(self):
        self.same("badptr", "readonly_out_pointers")

    # --- rejected arguments, errno (badargs.c) --------------------------------

    def test_close_invalid_fds(self):
        self.same("badargs", "close_invalid_fds")

    def test_dup2_negative_fds(self):
        self.same("badargs", "dup2_negative_fds")

    def test_socket_bad_arguments(self):
        self.same("badargs", "socket_bad_arguments")

    def test_accept4_bad_flags(self):
        self.same("badargs", "accept4_bad_flags")

    def test_dup3_rejected(self):
        self.same("badargs", "dup3_rejected")

    def test_close_range_reversed(self):
        self.same("badargs", "close_range_reversed")

    def test_close_range_bad_flags(self):
        self.same("badargs", "close_range_bad_flags")

    def test_fcntl_rejected(self):
        self.same("badargs", "fcntl_rejected")

    def test_socket_calls_on_non_sockets(self):
        self.same("badargs", "socket_calls_on_non_sockets")

    def test_connection_errors(self):
        self.same("badargs", "connection_errors")

    def test_errno_kept_by_socket_calls(self):
        self.same("badargs", "errno_socket_calls")

    def test_errno_kept_by_fd_calls(self):
        self.same("badargs", "errno_fd_calls")

    def test_errno_kept_by_process_calls(self):
        self.same("badargs", "errno_process_calls")

    # --- the fd table (fdtable.c) ---------------------------------------------

    def test_fd_listing_at_start(self):
        self.same("fdtable", "listing_at_start")

    def test_fd_listing_after_sockets(self):
        self.same("fdtable", "listing_after_sockets")

    def test_emfile_count_setrlimit(self):
        self.same("fdtable", "emfile_setrlimit")

    def test_emfile_count_under_ulimit_32(self):
        self.assert_identical(under_ulimit(32, "fdtable", "emfile_count"), timeout=TIMEOUT)

    def test_first_socket_under_ulimit_32(self):
        self.assert_identical(under_ulimit(32, "fdtable", "first_socket"), timeout=TIMEOUT)

    def test_accept_and_socketpair_at_emfile(self):
        self.same("fdtable", "accept_socketpair_at_emfile")

    def test_dupfd_and_dup2_at_top_of_limit(self):
        self.same("fdtable", "dupfd_top_of_limit")

    def test_fcntl_dupfd_4030_repeated(self):
        self.same("fdtable", "dupfd_4030")

    def test_close_every_fd_to_65535(self):
        self.same("fdtable", "close_every_fd")

    def test_close_range_everything_then_sockets(self):
        _, traced = self.same("fdtable", "close_range_all")
        self.assert_leaks_after_close_all(traced)

    def test_closefrom_then_sockets(self):
        _, traced = self.same("fdtable", "closefrom_all")
        self.assert_leaks_after_close_all(traced)

    def assert_leaks_after_close_all(self, traced):
        # Closing every fd must not blind the shim: the sockets opened
        # afterwards (listener 3, client 4, accepted 5, udp 6) are leaks.
        report = traced.report
        self.assertEqual(leaked_fds(report, "leaked-connection"), [4, 5], json.dumps(report["findings"]))
        self.assertEqual(leaked_fds(report, "leaked-socket"), [3, 6], json.dumps(report["findings"]))

    def test_dup2_onto_every_fd_below_limit(self):
        self.same("fdtable", "dup2_fill_table")

    def test_fill_to_fd_setsize_under_ulimit_1024(self):
        self.assert_identical(under_ulimit(1024, "fdtable", "fill_to_fd_setsize"), timeout=TIMEOUT)

    def test_select_at_fd_setsize(self):
        self.same("fdtable", "select_fd_setsize")

    def test_getdtablesize_and_sysconf(self):
        self.same("fdtable", "getdtablesize_sysconf")
        self.assert_identical(under_ulimit(32, "fdtable", "getdtablesize_sysconf"), timeout=TIMEOUT)

    def test_opendir_proc_self_fd_while_opening_sockets(self):
        self.same("fdtable", "opendir_proc_fd_loop")

    def test_dup2_onto_stdio(self):
        self.same("fdtable", "dup2_onto_stdio")

    def test_fd_number_reuse_order(self):
        self.same("fdtable", "fd_reuse_order")

    def test_unix_socket_bound_to_path(self):
        self.same("fdtable", "unix_socket_bind_path")

    # --- threads, forks, signal handlers, stacks (threads.c) --------------------

    def test_64_threads_churning_sockets(self):
        _, traced = self.same("threads", "churn64")
        # One leaked connection per thread, nothing else.
        report = traced.report
        self.assertEqual(len(leaked_fds(report, "leaked-connection")), 64, json.dumps(report["findings"])[:4000])
        self.assertEqual(leaked_fds(report, "leaked-socket"), [])

    def test_fork_from_threads(self):
        self.same("threads", "fork_from_threads")

    def test_fork_in_sigusr1_handler(self):
        self.same("threads", "fork_in_sigusr1_handler")

    def test_fork_in_sigalrm_handler_during_blocking_calls(self):
        self.same("threads", "fork_in_sigalrm_during_blocking_calls")

    def test_fork_in_timer_handler_during_socket_loop(self):
        self.same("threads", "fork_in_timer_handler_during_churn")

    def test_fork_while_threads_unwind_deep_stacks(self):
        self.same("threads", "fork_while_unwinding")

    def test_small_stack_thread_16k_7k_left(self):
        self.same("threads", "small_stack_16k")

    def test_small_stack_thread_pthread_stack_min(self):
        self.same("threads", "small_stack_min")

    def test_hooks_on_small_sigaltstack(self):
        self.same("threads", "hooks_on_sigaltstack")

    def test_socket_calls_in_thread_key_destructor(self):
        self.same("threads", "socket_in_key_destructor")

    def test_socket_calls_in_atexit_and_destructor(self):
        self.same("threads", "socket_ops_at_exit")

    def test_exit_while_threads_churn(self):
        native, _ = self.same("threads", "exit_while_threads_churn")
        self.assertEqual(native.returncode, 7)

    def test_underscore_exit_from_thread_while_others_churn(self):
        native, _ = self.same("threads", "thread_exit_while_threads_churn")
        self.assertEqual(native.returncode, 9)

    def test_main_thread_pthread_exit(self):
        self.same("threads", "main_thread_pthread_exit")

    def test_exec_from_thread_while_others_churn(self):
        self.same("threads", "exec_from_thread")

    def test_deep_main_thread_stack_under_ulimit_s_256(self):
        self.assert_identical(["sh", "-c", 'ulimit -s 256 && exec "$0" "$@"', program("threads"),
                               "main_stack_small"], timeout=TIMEOUT)

    # --- new process images (procs.c) ----------------------------------------

    def test_exec_chain(self):
        self.same("procs", "exec_chain", "5")

    def test_posix_spawn_sh_with_empty_environment(self):
        self.same("procs", "posix_spawn_sh_empty_env")

    def test_posix_spawn_self_with_empty_environment(self):
        self.same("procs", "posix_spawn_self_empty_env")

    def test_posix_spawn_file_actions(self):
        self.same("procs", "posix_spawn_file_actions")

    def test_posix_spawn_failures(self):
        self.same("procs", "posix_spawn_failures")

    def test_vfork_exec(self):
        self.same("procs", "vfork_exec")

    def test_close_on_exec_listing_in_new_image(self):
        self.same("procs", "cloexec_exec_listing")

    def test_every_exec_variant(self):
        self.same("procs", "exec_family")

    def test_daemon_closing_every_fd(self):
        self.same("procs", "daemonize_close_all")

    def test_popen_and_system(self):
        self.same("procs", "popen_system")

    def test_exec_with_null_argv_or_envp(self):
        self.same("procs", "exec_null_argv_envp")

    # --- signals (signals.c) ----------------------------------------------------

    def test_own_sigsegv_handler_recovers(self):
        self.same("signals", "sigsegv_handler_recovers")

    def test_own_sigsegv_handler_sees_no_fault_from_bad_pointers(self):
        self.same("signals", "sigsegv_handler_bad_pointer_calls")

    def test_sigpipe_default_kills(self):
        native, _ = self.same("signals", "sigpipe_default")
        self.assertEqual(native.returncode, -signal.SIGPIPE)

    def test_sigpipe_ignored_gives_epipe(self):
        self.same("signals", "sigpipe_ignored")

    def test_death_by_sigterm(self):
        native, _ = self.same("signals", "sigterm_self")
        self.assertEqual(native.returncode, -signal.SIGTERM)

    def test_small_rlimit_fsize_no_sigxfsz(self):
        self.same("signals", "small_rlimit_fsize")

    def test_death_by_abort(self):
        native, _ = self.same("signals", "abort_self")
        self.assertEqual(native.returncode, -signal.SIGABRT)

    def test_sigkill_at_random_moments(self):
        # Both die of SIGKILL, and the traced one still leaves a readable
        # report naming that death. Not assert_identical: the test kills.
        rng = random.Random()
        for round_number in range(3):
            delay = rng.uniform(0.02, 0.4)
            with self.subTest(round=round_number, delay=round(delay, 3)):
                native = self.killed_run(delay, traced=False)
                self.assertEqual(native["returncode"], -signal.SIGKILL, native)
                traced = self.killed_run(delay, traced=True)
                self.assertEqual(traced["returncode"], 128 + signal.SIGKILL, traced)
                self.assertIsNotNone(traced["report"], traced)
                ends = [(p["end"], p.get("signal")) for p in traced["report"]["processes"]
                        if p["pid"] == traced["pid"]]
                self.assertEqual(ends, [("signal", signal.SIGKILL)], json.dumps(traced["report"]["processes"]))
                # The traces alone are readable too.
                again = subprocess.run([CONNLEAK, "report", "--format", "json", traced["traces"]],
                                       capture_output=True, text=True, timeout=TIMEOUT)
                self.assertEqual(again.returncode, 0, again.stderr)
                json.loads(again.stdout)

    def killed_run(self, delay, traced):
        with tempfile.TemporaryDirectory(prefix="connleak-identity-kill-") as work:
            pid_file = os.path.join(work, "pid")
            argv = [program("signals"), "killme", pid_file]
            report_path = os.path.join(work, "report.json")
            traces = os.path.join(work, "traces")
            if traced:
                argv = [CONNLEAK, "run", "--format", "json", "--report", report_path, "--output-dir", traces,
                        "--", *argv]
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       start_new_session=True)
            try:
                deadline = time.monotonic() + 10
                while not os.path.exists(pid_file) and time.monotonic() < deadline and process.poll() is None:
                    time.sleep(0.005)
                pid = None
                if os.path.exists(pid_file):
                    with open(pid_file) as f:
                        pid = int(f.read())
                if pid is not None:
                    time.sleep(delay)
                    os.kill(pid, signal.SIGKILL)
                stdout, stderr = process.communicate(timeout=TIMEOUT)
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.communicate()
            result = {"returncode": process.returncode, "pid": pid, "stdout": stdout, "stderr": stderr[-2000:],
                      "report": None, "traces": None}
            if traced and os.path.exists(report_path):
                with open(report_path) as f:
                    result["report"] = json.load(f)
                # Copied out before the directory goes.
                keep = tempfile.mkdtemp(prefix="connleak-identity-traces-")
                subprocess.run(["cp", "-r", traces, keep], check=True)
                result["traces"] = os.path.join(keep, "traces")
                self.addCleanup(subprocess.run, ["rm", "-rf", keep])
            return result

    # --- process state besides fds (state.c) -----------------------------------

    def test_process_state_at_start(self):
        self.same("state", "state_at_start")

    def test_process_state_after_activity_thread_and_fork(self):
        self.same("state", "state_after_activity")

    def test_stdin_passed_through(self):
        self.same("state", "stdin_copy", stdin="".join(f"line {i}\n" for i in range(5000)))

    def test_sockets_in_program_constructor(self):
        self.same("state", "constructor_sockets")

    # --- the unwinder's first load (first_stack.c) -----------------------------

    def stack_of_leak(self, traced, fd):
        """The function names of the stack that made leaked socket `fd`."""
        for finding in findings(traced.report, "leaked-socket"):
            if any(i["fd"] == fd for i in finding["instances"]):
                return [frame["function"] for frame in finding["stack"]]
        self.fail(f"no leaked-socket finding for fd {fd}: {json.dumps(traced.report['findings'])}")

    def unwinder_moments(self, *args):
        """A traced run of first_stack with FIRST_STACK_MAPS: whether libunwind
        was mapped at each of the case's moments."""
        with tempfile.TemporaryDirectory(prefix="connleak-first-stack-") as work:
            maps = os.path.join(work, "maps")
            traced = run_traced([program("first_stack"), *args], env={"FIRST_STACK_MAPS": maps}, timeout=TIMEOUT)
            self.assertEqual(traced.returncode, 0, traced.stderr + "".join(traced.own_lines))
            with open(maps) as f:
                return dict(line.rstrip("\n").split(": ", 1) for line in f)

    def test_first_stack_in_signal_handler_each_installer(self):
        # The handler's socket is the process's first stack; libunwind is
        # loaded when the handler is installed, before it can run (where
        # loading could interrupt malloc or the loader), never at start-up.
        for installer in ("sigaction", "signal", "bsd_signal", "sysv_signal", "ssignal", "sigset"):
            with self.subTest(installer=installer):
                _, traced = self.same("first_stack", "first_socket_in_handler", installer)
                handler = "socket_in_siginfo_handler" if installer == "sigaction" else "socket_in_handler"
                self.assertIn(handler, self.stack_of_leak(traced, 3))
                self.assertEqual(self.unwinder_moments("first_socket_in_handler", installer),
                                 {"at start": "not loaded", "handler installed": "loaded"})

    def test_handler_installers_refused_as_natively(self):
        self.same("first_stack", "handler_installers_refused")

    def test_first_stack_in_new_thread(self):
        for kind in ("pthread", "c11"):
            with self.subTest(kind=kind):
                _, traced = self.same("first_stack", "first_socket_in_thread", kind)
                function = "socket_in_c11_thread" if kind == "c11" else "socket_in_pthread"
                self.assertIn(function, self.stack_of_leak(traced, 3))
                self.assertEqual(self.unwinder_moments("first_socket_in_thread", kind),
                                 {"at start": "not loaded", "in the thread": "loaded"})

    def test_dlerror_message_survives_shim_first_calls(self):
        # The first socket loads libunwind and resolves wrappers (dl calls of
        # the shim's) between the program's failed dlopen and its dlerror().
        native, traced = self.same("first_stack", "dlerror_across_first_calls")
        self.assertIn("after the first sockets: dlerror libconnleak-no-such-library.so", native.stdout)
        self.assertEqual(self.unwinder_moments("dlerror_across_first_calls"),
                         {"at start": "not loaded", "after the first sockets": "loaded"})

    def test_first_socket_under_ulimit_4(self):
        # Room for one socket only: whatever the shim needs at start must
        # not take it.
        self.assert_identical(under_ulimit(4, "fdtable", "first_socket"), timeout=TIMEOUT)

    # --- preloaded allocators -------------------------------------------------

    def allocator(self, name):
        path = shared_library(name)
        if not path:
            self.skipTest(f"{name} is not installed (Debian: libjemalloc2 / libgoogle-perftools4 / "
                          f"libtcmalloc-minimal4)")
        return path

    ALLOCATOR_CASES = (("threads", "alloc_churn"), ("threads", "churn64"), ("threads", "fork_from_threads"))

    def check_shim_then(self, library):
        # `connleak run` puts the shim first and keeps the LD_PRELOAD it was
        # given after it: LD_PRELOAD=shim:library (analyzer/run/launcher.cpp).
        for name, case in self.ALLOCATOR_CASES:
            with self.subTest(case=case):
                self.assert_identical([program(name), case], env={"LD_PRELOAD": library}, timeout=TIMEOUT)

    def check_then_shim(self, library):
        # The library first: a traced shell puts it in front of the shim's
        # LD_PRELOAD before it execs the program (natively, LD_PRELOAD is
        # just the library).
        wrap = f'LD_PRELOAD="{library}${{LD_PRELOAD:+:$LD_PRELOAD}}" exec "$0" "$@"'
        seen = run_traced(["sh", "-c", wrap, "sh", "-c", 'echo "$LD_PRELOAD"'], timeout=TIMEOUT)
        entries = seen.stdout.strip().split(":")
        self.assertEqual(entries[0], library, seen.stdout)
        self.assertTrue(any(e.endswith("libconnleak.so") for e in entries[1:]), seen.stdout)
        for name, case in self.ALLOCATOR_CASES:
            with self.subTest(case=case):
                self.assert_identical(["sh", "-c", wrap, program(name), case], timeout=TIMEOUT)

    def test_shim_then_jemalloc(self):
        self.check_shim_then(self.allocator("libjemalloc.so.2"))

    def test_jemalloc_then_shim(self):
        self.check_then_shim(self.allocator("libjemalloc.so.2"))

    def test_shim_then_tcmalloc(self):
        self.check_shim_then(self.allocator("libtcmalloc.so.4"))

    def test_tcmalloc_then_shim(self):
        self.check_then_shim(self.allocator("libtcmalloc.so.4"))

    def test_shim_then_tcmalloc_minimal(self):
        self.check_shim_then(self.allocator("libtcmalloc_minimal.so.4"))

    def test_tcmalloc_minimal_then_shim(self):
        self.check_then_shim(self.allocator("libtcmalloc_minimal.so.4"))

    # --- AddressSanitizer -----------------------------------------------------

    # An ASan binary aborts ("ASan runtime does not come first in initial
    # library list") when another library is preloaded before its runtime;
    # under `connleak run` the shim is. verify_asan_link_order=0 lets it run,
    # and is set for the native run too, so that both runs are alike.
    ASAN_ENV = {"ASAN_OPTIONS": "verify_asan_link_order=0"}

    def test_asan_program_sockets(self):
        for case in ("fd_reuse_order", "dupfd_top_of_limit", "unix_socket_bind_path", "accept_socketpair_at_emfile"):
            with self.subTest(case=case):
                self.assert_identical([program("fdtable_asan"), case], env=self.ASAN_ENV, timeout=TIMEOUT)

    def test_asan_program_fd_listing(self):
        self.assert_identical([program("fdtable_asan"), "listing_after_sockets"], env=self.ASAN_ENV,
                              timeout=TIMEOUT)


if __name__ == "__main__":
    unittest.main()
