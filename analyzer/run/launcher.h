// Running a command under the connleak shim: pre-flight checks that the
// command can be reached by LD_PRELOAD at all, and the spawn/wait/forward loop
// behind `connleak run -- CMD`.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace connleak {

// A one-line, user-facing reason why a command cannot be traced or run.
struct LaunchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws LaunchError when `program` (a name looked up in PATH like execvp does,
// or a path) cannot be traced by an LD_PRELOAD shim: not found / not
// executable, statically linked (no PT_INTERP), setuid or setgid, not an ELF
// and not a "#!" script. For a "#!" script, checks its interpreter the same way
// (one level of `#!/usr/bin/env NAME` resolved via PATH).
// Returns the resolved path. Message examples:
//   "cannot trace /bin/foo: statically linked, so LD_PRELOAD cannot reach it"
//   "cannot trace /usr/bin/passwd: it is setuid; the dynamic loader ignores LD_PRELOAD for it"
//   "nosuchcmd: command not found"
// A file that exists and is executable but cannot be read (mode 0711) is
// accepted unchecked: it may well be traceable, and refusing it would be worse.
std::string check_traceable(const std::string& program);

// "32M", "1G", "500K", "4096", "0" (as the shim reads CONNLEAK_MAX_TRACE_SIZE):
// bytes; nullopt for anything else.
std::optional<uint64_t> parse_size(const std::string& text);

// A process the command left behind (a daemon's double fork, a background
// job) that was still running when the launcher stopped waiting for it.
struct RunningProcess {
  int pid = 0;
  std::string name;  // the kernel's short name for it (comm), e.g. "sleep"
};

// Why the launcher stopped waiting for the command's descendants.
enum class DescendantWait {
  kAllEnded,  // none was left (or none was there)
  kSignal,    // SIGINT, SIGTERM, SIGHUP or SIGQUIT after the command had exited
  kTimeout,   // LaunchOptions::descendant_timeout passed
};

struct LaunchResult {
  int pid = 0;        // the command's process id
  int exit_code = 0;  // the command's exit status, or 128+signal when it was killed by a signal
  bool signaled = false;
  int signal = 0;
  DescendantWait wait_end = DescendantWait::kAllEnded;
  int stop_signal = 0;  // the signal that stopped the wait (kSignal)
  // The command's descendants still running when the wait stopped, in pid
  // order; empty when all had ended. Their traces have no end yet.
  std::vector<RunningProcess> still_running;
};

struct LaunchOptions {
  std::vector<std::string> argv;  // command and arguments, argv[0] looked up in PATH
  std::string shim_path;          // absolute path of libconnleak.so
  std::string output_dir;         // where the shim writes traces (exported as CONNLEAK_OUTPUT_DIR)
  std::string max_trace_size;     // exported as CONNLEAK_MAX_TRACE_SIZE unless empty
  // How long to wait, once the command has exited, for the processes it
  // left running; nullopt: until they end (or a stop signal). 0: not at all.
  std::optional<std::chrono::milliseconds> descendant_timeout;
  // Called once when the command has exited (command: its pid and status)
  // while descendants still run and the launcher is about to wait for them.
  std::function<void(const LaunchResult& command, const std::vector<RunningProcess>& running)> on_waiting;
};

// Runs the command with the shim preloaded and waits for it, then for every
// process it left behind.
// - LD_PRELOAD = shim_path prepended (':'-joined) to any existing LD_PRELOAD;
//   CONNLEAK_OUTPUT_DIR = output_dir; everything else inherited. Throws
//   LaunchError if shim_path contains a space or ':' or does not exist.
// - Exec failures come back as LaunchError ("cannot run X: Permission denied").
// - While the command runs, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
//   SIGWINCH and SIGCONT sent to this process are forwarded to the child; the
//   previous handlers and signal mask are restored afterwards.
// - The child starts with the signal mask and ignored signals the caller had,
//   exactly as if it had been exec'd directly (so `connleak run -- CMD &` keeps
//   SIGINT ignored like a shell background job would).
// - Descendants: for the call, this process is a child subreaper
//   (PR_SET_CHILD_SUBREAPER; restored afterwards, and not inherited by the
//   command), so processes orphaned below the command (a daemon that forked
//   twice and setsid()) become its children instead of init's. Once the
//   command has exited, they are reaped until none is left, the first SIGINT,
//   SIGTERM, SIGHUP or SIGQUIT arrives (no longer forwarded: nobody else is
//   signalled), or descendant_timeout passes; the ones still running are
//   listed in the result. Only processes are waited for, never pipes.
//   Precondition: the caller has no children of its own that it waits for
//   (connleak has none); any child of this process is waited for and reaped.
// Calls are serialized: the forwarding state is process-wide.
LaunchResult launch_traced(const LaunchOptions& options);

}  // namespace connleak
