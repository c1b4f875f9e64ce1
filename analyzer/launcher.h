// Running a command under the connleak shim: pre-flight checks that the
// command can be reached by LD_PRELOAD at all, and the spawn/wait/forward loop
// behind `connleak run -- CMD`.
#pragma once
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

struct LaunchOptions {
  std::vector<std::string> argv;  // command and arguments, argv[0] looked up in PATH
  std::string shim_path;          // absolute path of libconnleak.so
  std::string output_dir;         // where the shim writes traces (exported as CONNLEAK_OUTPUT_DIR)
};

struct LaunchResult {
  int pid = 0;        // the command's process id
  int exit_code = 0;  // the command's exit status, or 128+signal when it was killed by a signal
  bool signaled = false;
  int signal = 0;
};

// Runs the command with the shim preloaded and waits for it.
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
// Calls are serialized: the forwarding state is process-wide.
LaunchResult launch_traced(const LaunchOptions& options);

}  // namespace connleak
