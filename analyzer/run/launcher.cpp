#include "run/launcher.h"

#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string_view>
#include <system_error>

extern char** environ;

namespace connleak {
namespace {

// ---------------------------------------------------------------------------
// Small POSIX helpers
// ---------------------------------------------------------------------------

std::string errno_text(int err) { return std::system_category().message(err); }

// Closes the descriptor on every exit path, including exceptions.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// pread() until `n` bytes arrived; false on EOF or error (a truncated file).
bool read_exact(int fd, void* buf, size_t n, off_t offset) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t got = ::pread(fd, p, n, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
    offset += got;
  }
  return true;
}

// execvp's search list: the file itself when it contains a '/', otherwise
// every PATH entry (an empty entry meaning the current directory).
std::vector<std::string> path_candidates(const std::string& file) {
  if (file.find('/') != std::string::npos) return {file};
  const char* env_path = std::getenv("PATH");
  // glibc's execvp default when PATH is unset.
  std::string_view path = env_path ? env_path : "/bin:/usr/bin";
  std::vector<std::string> out;
  for (;;) {
    size_t colon = path.find(':');
    std::string_view dir = path.substr(0, colon);
    out.push_back(dir.empty() ? file : std::string(dir) + "/" + file);
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return out;
}

// Effective-id check, as execve applies it (access() would use the real ids).
bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::faccessat(AT_FDCWD, path.c_str(), X_OK, AT_EACCESS) == 0;
}

// Resolves a command the way execvp would pick it: the first candidate that is
// an executable regular file. Not found at all is "command not found"; a
// candidate that exists but can't be run is returned so the caller reports why.
std::string resolve_command(const std::string& program) {
  if (program.empty()) throw LaunchError("empty command name");
  if (program.find('/') != std::string::npos) return program;
  std::string first_existing;
  for (const std::string& c : path_candidates(program)) {
    if (is_executable_file(c)) return c;
    if (first_existing.empty() && ::access(c.c_str(), F_OK) == 0) first_existing = c;
  }
  if (first_existing.empty()) throw LaunchError(program + ": command not found");
  return first_existing;
}

// ---------------------------------------------------------------------------
// ELF inspection
// ---------------------------------------------------------------------------

[[noreturn]] void throw_malformed(const std::string& path, const char* what) {
  throw LaunchError("cannot run " + path + ": malformed ELF file (" + what + ")");
}

// True when the program headers include PT_INTERP, i.e. the kernel starts the
// dynamic loader, which is what honours LD_PRELOAD. Static and static-pie
// executables have none.
template <class Ehdr, class Phdr, class Shdr>
bool elf_has_interp(int fd, const std::string& path) {
  Ehdr eh{};
  if (!read_exact(fd, &eh, sizeof eh, 0)) throw_malformed(path, "truncated header");
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
    throw LaunchError("cannot run " + path + ": ELF file is not an executable");
  if (eh.e_phentsize < sizeof(Phdr)) throw_malformed(path, "bad program header size");
  size_t phnum = eh.e_phnum;
  if (phnum == PN_XNUM) {  // the real count lives in section header 0
    Shdr sh{};
    if (!read_exact(fd, &sh, sizeof sh, static_cast<off_t>(eh.e_shoff)))
      throw_malformed(path, "truncated section header");
    phnum = sh.sh_info;
  }
  for (size_t i = 0; i < phnum; ++i) {
    Phdr ph{};
    auto off = static_cast<off_t>(eh.e_phoff + i * eh.e_phentsize);
    if (!read_exact(fd, &ph, sizeof ph, off)) throw_malformed(path, "truncated program headers");
    if (ph.p_type == PT_INTERP) return true;
  }
  return false;
}

// The loader runs in secure-execution mode (and drops LD_PRELOAD of arbitrary
// paths) when exec changes the ids. The kernel ignores setgid without group
// execute permission (that combination means mandatory locking).
void check_not_setid(const std::string& path, mode_t mode) {
  if (mode & S_ISUID)
    throw LaunchError("cannot trace " + path +
                      ": it is setuid; the dynamic loader ignores LD_PRELOAD for it");
  if ((mode & S_ISGID) && (mode & S_IXGRP))
    throw LaunchError("cannot trace " + path +
                      ": it is setgid; the dynamic loader ignores LD_PRELOAD for it");
}

void check_elf(int fd, const std::string& path, const unsigned char* ident) {
  constexpr unsigned char native_data =
      std::endian::native == std::endian::little ? ELFDATA2LSB : ELFDATA2MSB;
  if (ident[EI_DATA] != native_data)
    throw LaunchError("cannot run " + path + ": ELF file for a different byte order");
  bool dynamic = false;
  if (ident[EI_CLASS] == ELFCLASS64)
    dynamic = elf_has_interp<Elf64_Ehdr, Elf64_Phdr, Elf64_Shdr>(fd, path);
  else if (ident[EI_CLASS] == ELFCLASS32)
    dynamic = elf_has_interp<Elf32_Ehdr, Elf32_Phdr, Elf32_Shdr>(fd, path);
  else
    throw_malformed(path, "unknown ELF class");
  if (!dynamic)
    throw LaunchError("cannot trace " + path +
                      ": statically linked, so LD_PRELOAD cannot reach it");
}

// ---------------------------------------------------------------------------
// "#!" scripts
// ---------------------------------------------------------------------------

// The kernel reads this many bytes of a file to find the "#!" line.
constexpr size_t kBinprmBufSize = 256;
// Linux follows at most this many nested interpreters.
constexpr int kMaxInterpreterDepth = 4;

struct Shebang {
  std::string interpreter;
  std::string arg;  // the kernel passes the rest of the line as one argument
};

Shebang parse_shebang(std::string_view head) {
  head.remove_prefix(2);  // "#!"
  head = head.substr(0, head.find('\n'));
  constexpr std::string_view blanks = " \t";
  auto trim = [&](std::string_view s) {
    size_t b = s.find_first_not_of(blanks);
    if (b == std::string_view::npos) return std::string_view{};
    return s.substr(b, s.find_last_not_of(blanks) - b + 1);
  };
  head = trim(head);
  size_t end = head.find_first_of(blanks);
  Shebang sb;
  sb.interpreter = std::string(head.substr(0, end));
  if (end != std::string_view::npos) sb.arg = std::string(trim(head.substr(end)));
  return sb;
}

std::vector<std::string> split_blanks(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while ((i = s.find_first_not_of(" \t", i)) != std::string::npos) {
    size_t end = s.find_first_of(" \t", i);
    out.push_back(s.substr(i, end - i));
    i = end;
  }
  return out;
}

// The command `env` will run for "#!/usr/bin/env [OPTIONS] [VAR=VAL] NAME".
// Options (-S splits the rest, so its words follow as usual) and assignments
// are skipped; -u/-C take a value. Returns "" when there is no command.
std::string env_command(const std::string& script, const std::string& arg) {
  std::vector<std::string> words = split_blanks(arg);
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "-" || w == "-i" || w == "--ignore-environment")
      throw LaunchError("cannot trace " + script +
                        ": its #! line runs env -i, which clears LD_PRELOAD");
    if (w == "-u" || w == "-C") {
      ++i;
      continue;
    }
    if (w[0] == '-' || w.find('=') != std::string::npos) continue;
    return w;
  }
  return "";
}

std::string check_file(const std::string& path, int depth);

// Checks the program a script's "#!" line starts; its LD_PRELOAD reach is the
// script's. Errors are prefixed with the script so the chain stays readable.
void check_script(const std::string& path, std::string_view head, int depth) {
  if (depth >= kMaxInterpreterDepth)
    throw LaunchError("cannot run " + path + ": too many levels of #! interpreters");
  Shebang sb = parse_shebang(head);
  if (sb.interpreter.empty()) throw LaunchError("cannot run " + path + ": empty #! line");
  std::string_view base = sb.interpreter;
  base = base.substr(base.rfind('/') + 1);
  // env itself need not be traceable: it passes LD_PRELOAD on to NAME.
  std::string env_name;
  if (base == "env") {
    env_name = env_command(path, sb.arg);
    if (env_name.empty())
      throw LaunchError("cannot run " + path + ": #! env line names no command");
  }
  try {
    check_file(env_name.empty() ? sb.interpreter : resolve_command(env_name), depth + 1);
  } catch (const LaunchError& e) {
    throw LaunchError(path + ": " + e.what());
  }
}

// Checks one resolved file: exists, executable, then by content.
std::string check_file(const std::string& path, int depth) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw LaunchError("cannot run " + path + ": " + errno_text(errno));
  if (S_ISDIR(st.st_mode)) throw LaunchError("cannot run " + path + ": " + errno_text(EISDIR));
  if (!S_ISREG(st.st_mode)) throw LaunchError("cannot run " + path + ": not a regular file");
  if (::faccessat(AT_FDCWD, path.c_str(), X_OK, AT_EACCESS) != 0)
    throw LaunchError("cannot run " + path + ": " + errno_text(errno));

  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) {
    if (errno == EACCES) return path;  // execute-only: can't inspect, don't refuse
    throw LaunchError("cannot run " + path + ": " + errno_text(errno));
  }
  std::array<char, kBinprmBufSize> buf{};
  ssize_t n;
  do n = ::pread(fd.fd, buf.data(), buf.size(), 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) throw LaunchError("cannot run " + path + ": " + errno_text(errno));
  std::string_view head(buf.data(), static_cast<size_t>(n));

  if (head.size() >= SELFMAG && std::memcmp(head.data(), ELFMAG, SELFMAG) == 0) {
    if (head.size() < EI_NIDENT) throw_malformed(path, "truncated header");
    check_not_setid(path, st.st_mode);
    check_elf(fd.fd, path, reinterpret_cast<const unsigned char*>(head.data()));
    return path;
  }
  // Linux ignores setuid/setgid bits on scripts, so only the interpreter matters.
  if (head.starts_with("#!")) {
    check_script(path, head, depth);
    return path;
  }
  throw LaunchError("cannot run " + path + ": not an ELF executable or a #! script");
}

// ---------------------------------------------------------------------------
// Signal forwarding
// ---------------------------------------------------------------------------

constexpr std::array kForwardedSignals = {SIGINT,  SIGTERM, SIGHUP,   SIGQUIT,
                                          SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

// Handler state. A signal that arrives before the child's pid is published
// (or in another thread while it is being published) is parked in g_pending;
// whoever swaps the bit out first forwards it, so nothing is lost or sent twice.
std::atomic<pid_t> g_child_pid{0};
std::atomic<unsigned> g_pending{0};
static_assert(std::atomic<pid_t>::is_always_lock_free);
static_assert(std::atomic<unsigned>::is_always_lock_free);

constexpr bool signals_fit_pending_mask() {
  for (int sig : kForwardedSignals)
    if (sig >= 32) return false;
  return true;
}
static_assert(signals_fit_pending_mask());

void forward_pending(pid_t pid) {
  unsigned bits = g_pending.exchange(0);
  for (int sig : kForwardedSignals)
    if (bits & (1u << sig)) ::kill(pid, sig);
}

void on_forwarded_signal(int sig) {
  int saved_errno = errno;  // kill() may clobber it under the interrupted code
  g_pending.fetch_or(1u << sig);
  pid_t pid = g_child_pid.load();
  if (pid > 0) forward_pending(pid);
  errno = saved_errno;
}

sigset_t forwarded_set() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kForwardedSignals) sigaddset(&set, sig);
  return set;
}

// Installs the forwarding handlers for one launch and restores everything on
// destruction. The forwarded signals stay blocked in this thread until
// publish_child(), so the forked child inherits them blocked and can't run our
// handler before it resets its dispositions.
class ForwardingScope {
 public:
  ForwardingScope() {
    g_pending.store(0);  // drop leftovers from a previous launch
    sigset_t block = forwarded_set();
    pthread_sigmask(SIG_BLOCK, &block, &caller_mask_);
    struct sigaction sa {};
    sa.sa_handler = on_forwarded_signal;
    sa.sa_mask = block;  // one forwarding handler at a time
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < kForwardedSignals.size(); ++i)
      sigaction(kForwardedSignals[i], &sa, &caller_actions_[i]);
    make_child_reapable();
  }
  ~ForwardingScope() {
    g_child_pid.store(0);
    for (size_t i = 0; i < kForwardedSignals.size(); ++i)
      sigaction(kForwardedSignals[i], &caller_actions_[i], nullptr);
    if (chld_changed_) sigaction(SIGCHLD, &caller_chld_, nullptr);
    pthread_sigmask(SIG_SETMASK, &caller_mask_, nullptr);
  }
  ForwardingScope(const ForwardingScope&) = delete;
  ForwardingScope& operator=(const ForwardingScope&) = delete;

  // Parent side, right after fork: start forwarding to `pid`, including
  // signals that arrived while it was being spawned, then unblock.
  void publish_child(pid_t pid) {
    g_child_pid.store(pid);
    forward_pending(pid);
    pthread_sigmask(SIG_SETMASK, &caller_mask_, nullptr);
  }
  // Stop forwarding before the child is reaped, so its pid can't be reused
  // under a handler.
  void unpublish_child() { g_child_pid.store(0); }

  // Child side, between fork and exec (async-signal-safe calls only): give the
  // command the dispositions and mask it would have had without connleak.
  // exec resets handled signals to SIG_DFL but keeps SIG_IGN, so mirror that.
  void restore_for_child() const {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (size_t i = 0; i < kForwardedSignals.size(); ++i) {
      bool ignored = caller_actions_[i].sa_handler == SIG_IGN;
      sigaction(kForwardedSignals[i], ignored ? &caller_actions_[i] : &dfl, nullptr);
    }
    if (chld_changed_ && caller_chld_.sa_handler == SIG_IGN)
      sigaction(SIGCHLD, &caller_chld_, nullptr);
    sigprocmask(SIG_SETMASK, &caller_mask_, nullptr);
  }

 private:
  // With SIGCHLD ignored (or SA_NOCLDWAIT) the kernel auto-reaps children and
  // waitpid could never see the exit status.
  void make_child_reapable() {
    sigaction(SIGCHLD, nullptr, &caller_chld_);
    if (caller_chld_.sa_handler != SIG_IGN && !(caller_chld_.sa_flags & SA_NOCLDWAIT)) return;
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, nullptr);
    chld_changed_ = true;
  }

  sigset_t caller_mask_{};
  std::array<struct sigaction, kForwardedSignals.size()> caller_actions_{};
  struct sigaction caller_chld_ {};
  bool chld_changed_ = false;
};

// ---------------------------------------------------------------------------
// Spawning
// ---------------------------------------------------------------------------

void check_shim_path(const std::string& shim) {
  // ld.so splits LD_PRELOAD on both, so such a path would name other files.
  if (shim.find_first_of(" :") != std::string::npos)
    throw LaunchError("shim path '" + shim +
                      "' contains a space or ':', which LD_PRELOAD cannot express");
  struct stat st {};
  if (::stat(shim.c_str(), &st) != 0)
    throw LaunchError("shim " + shim + ": " + errno_text(errno));
}

// The inherited environment with LD_PRELOAD and CONNLEAK_OUTPUT_DIR replaced
// (and CONNLEAK_MAX_TRACE_SIZE, when given).
std::vector<std::string> child_environment(const LaunchOptions& o) {
  std::string preload = o.shim_path;
  if (const char* old = std::getenv("LD_PRELOAD");
      old && std::string_view(old).find_first_not_of(" :") != std::string_view::npos)
    preload += std::string(":") + old;
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv = *e;
    if (kv.starts_with("LD_PRELOAD=") || kv.starts_with("CONNLEAK_OUTPUT_DIR=")) continue;
    if (!o.max_trace_size.empty() && kv.starts_with("CONNLEAK_MAX_TRACE_SIZE=")) continue;
    env.emplace_back(kv);
  }
  env.push_back("LD_PRELOAD=" + preload);
  env.push_back("CONNLEAK_OUTPUT_DIR=" + o.output_dir);
  if (!o.max_trace_size.empty()) env.push_back("CONNLEAK_MAX_TRACE_SIZE=" + o.max_trace_size);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (std::string& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Everything the child needs, built before fork: after fork in a threaded
// process only async-signal-safe calls are allowed, so no allocation there.
struct ExecPlan {
  std::vector<std::string> candidates, args, env;
  std::vector<char*> candidate_ptrs, argv, envp;
};

// execvp's search loop over the prepared candidates, with execve only.
// Returns the errno execvp would report.
int exec_candidates(const ExecPlan& plan) {
  bool saw_eacces = false;
  for (char* const* c = plan.candidate_ptrs.data(); *c; ++c) {
    ::execve(*c, plan.argv.data(), plan.envp.data());
    switch (errno) {
      case EACCES: saw_eacces = true; [[fallthrough]];
      case ENOENT: case ENOTDIR: case ESTALE: case ENODEV: case ETIMEDOUT: continue;
      default: return errno;
    }
  }
  return saw_eacces ? EACCES : ENOENT;
}

[[noreturn]] void run_child(const ExecPlan& plan, const ForwardingScope& scope, int err_fd) {
  scope.restore_for_child();
  int err = exec_candidates(plan);
  ssize_t ignored = ::write(err_fd, &err, sizeof err);
  (void)ignored;
  ::_exit(127);
}

LaunchResult decode_status(int status) {
  LaunchResult r;
  if (WIFSIGNALED(status)) {
    r.signaled = true;
    r.signal = WTERMSIG(status);
    r.exit_code = 128 + r.signal;
  } else {
    r.exit_code = WEXITSTATUS(status);
  }
  return r;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw LaunchError("waiting for the command failed: " + errno_text(errno));
  }
  return status;
}

// Reads the child's exec errno from the CLOEXEC pipe; 0 when exec succeeded
// (the pipe closed without data).
int read_exec_errno(int fd) {
  int err = 0;
  ssize_t n;
  do n = ::read(fd, &err, sizeof err);
  while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof err) ? err : 0;
}

std::string exec_error_message(const std::string& cmd, int err) {
  if (err == ENOENT && cmd.find('/') == std::string::npos) return cmd + ": command not found";
  return "cannot run " + cmd + ": " + errno_text(err);
}

// ---------------------------------------------------------------------------
// Descendants the command left behind
// ---------------------------------------------------------------------------

// Once the command has exited, these stop the wait for its descendants; the
// other forwarded signals have nobody to go to and are dropped.
constexpr std::array kStopSignals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// How often the wait looks again without being woken: SIGCHLD and the stop
// signals wake it at once, unless another thread of the caller took them.
constexpr auto kWaitSlice = std::chrono::milliseconds(250);

// Makes this process a child subreaper for one launch and puts the previous
// setting back. The bit is not inherited across fork, so the command does not
// become one.
class SubreaperScope {
 public:
  SubreaperScope() {
    int previous = 0;
    if (::prctl(PR_GET_CHILD_SUBREAPER, &previous, 0, 0, 0) == 0) previous_ = previous;
    if (previous_ == 0) changed_ = ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
  }
  ~SubreaperScope() {
    if (changed_) ::prctl(PR_SET_CHILD_SUBREAPER, previous_, 0, 0, 0);
  }
  SubreaperScope(const SubreaperScope&) = delete;
  SubreaperScope& operator=(const SubreaperScope&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

struct ProcEntry {
  pid_t ppid = 0;
  char state = '?';
  std::string name;
};

// /proc/PID/stat: "PID (COMM) STATE PPID ..."; COMM may hold spaces and ')'.
bool read_proc_stat(pid_t pid, ProcEntry& out) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  size_t open = line.find('('), close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  out.name = line.substr(open + 1, close - open - 1);
  std::istringstream rest(line.substr(close + 1));
  return static_cast<bool>(rest >> out.state >> out.ppid);
}

// Every live (not yet zombie) process below `root`, in pid order.
std::vector<RunningProcess> running_descendants(pid_t root) {
  std::multimap<pid_t, std::pair<pid_t, ProcEntry>> by_parent;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.size() > 9 || name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto pid = static_cast<pid_t>(std::stol(name));
    ProcEntry e;
    if (read_proc_stat(pid, e)) by_parent.emplace(e.ppid, std::make_pair(pid, e));
  }
  std::vector<RunningProcess> out;
  std::vector<pid_t> parents{root};
  while (!parents.empty()) {
    pid_t parent = parents.back();
    parents.pop_back();
    auto [begin, end] = by_parent.equal_range(parent);
    for (auto it = begin; it != end; ++it) {
      const auto& [pid, e] = it->second;
      parents.push_back(pid);
      if (e.state != 'Z' && e.state != 'X') out.push_back({pid, e.name});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.pid < b.pid; });
  return out;
}

// Reaps every child that has exited. False once none is left at all.
bool reap_exited_children() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) continue;
    if (pid == 0) return true;
    if (errno == EINTR) continue;
    return false;  // ECHILD
  }
}

// The first stop signal among the forwarding handler's parked signals.
int take_parked_stop_signal() {
  unsigned bits = g_pending.exchange(0);
  for (int sig : kStopSignals)
    if (bits & (1u << sig)) return sig;
  return 0;
}

bool is_stop_signal(int sig) {
  return std::find(kStopSignals.begin(), kStopSignals.end(), sig) != kStopSignals.end();
}

// After the command has been reaped: waits for the processes that were
// re-parented to us (we are their subreaper) until none is left, a stop
// signal arrives or the timeout passes. A signal that arrived between the
// command's exit and this wait counts as well: it came after the command.
void wait_for_descendants(const LaunchOptions& options, LaunchResult& result) {
  if (!reap_exited_children()) return;  // nothing left behind: the usual case
  using Clock = std::chrono::steady_clock;
  const bool bounded = options.descendant_timeout.has_value();
  const Clock::time_point deadline = Clock::now() + options.descendant_timeout.value_or(std::chrono::milliseconds(0));
  if (options.on_waiting && options.descendant_timeout != std::chrono::milliseconds(0))
    options.on_waiting(result, running_descendants(::getpid()));

  // SIGCHLD and the forwarded signals are taken here with sigtimedwait; a
  // blocked SIGCHLD stays pending even at SIG_DFL.
  sigset_t wait_set = forwarded_set(), before;
  sigaddset(&wait_set, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &wait_set, &before);
  for (;;) {
    if (!reap_exited_children()) break;
    if (int sig = take_parked_stop_signal()) {
      result.wait_end = DescendantWait::kSignal;
      result.stop_signal = sig;
      break;
    }
    auto slice = std::chrono::nanoseconds(kWaitSlice);
    if (bounded) {
      auto left = deadline - Clock::now();
      if (left <= Clock::duration::zero()) {
        result.wait_end = DescendantWait::kTimeout;
        break;
      }
      slice = std::min(slice, std::chrono::duration_cast<std::chrono::nanoseconds>(left));
    }
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(slice.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(slice.count() % 1'000'000'000);
    siginfo_t info{};
    int sig = ::sigtimedwait(&wait_set, &info, &ts);
    if (sig > 0 && is_stop_signal(sig)) {
      result.wait_end = DescendantWait::kSignal;
      result.stop_signal = sig;
      break;
    }
    // SIGCHLD, a signal with nobody to go to, EAGAIN or EINTR: look again.
  }
  if (result.wait_end != DescendantWait::kAllEnded) result.still_running = running_descendants(::getpid());
  // Forwarded signals still pending go to the handler, which parks them
  // harmlessly, before the caller's handlers come back.
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

std::mutex g_launch_mutex;

}  // namespace

std::string check_traceable(const std::string& program) {
  return check_file(resolve_command(program), 0);
}

LaunchResult launch_traced(const LaunchOptions& options) {
  if (options.argv.empty()) throw LaunchError("no command to run");
  if (options.argv[0].empty()) throw LaunchError("empty command name");
  check_shim_path(options.shim_path);

  ExecPlan plan;
  plan.candidates = path_candidates(options.argv[0]);
  plan.args = options.argv;
  plan.env = child_environment(options);
  plan.candidate_ptrs = c_strings(plan.candidates);
  plan.argv = c_strings(plan.args);
  plan.envp = c_strings(plan.env);

  std::lock_guard lock(g_launch_mutex);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    throw LaunchError("cannot run " + options.argv[0] + ": pipe: " + errno_text(errno));
  Fd err_read(pipe_fds[0]), err_write(pipe_fds[1]);

  SubreaperScope subreaper;  // before the fork: the command's orphans come to us
  ForwardingScope scope;
  pid_t pid = ::fork();
  if (pid < 0) throw LaunchError("cannot run " + options.argv[0] + ": fork: " + errno_text(errno));
  if (pid == 0) run_child(plan, scope, err_write.fd);

  scope.publish_child(pid);
  err_write.reset();  // so the read below sees EOF once exec closes the child's copy
  if (int err = read_exec_errno(err_read.fd)) {
    scope.unpublish_child();
    wait_for(pid);
    throw LaunchError(exec_error_message(options.argv[0], err));
  }

  // Wait without reaping first, so forwarding stops while the pid still
  // belongs to our (zombie) child.
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  scope.unpublish_child();
  LaunchResult result = decode_status(wait_for(pid));
  result.pid = pid;
  wait_for_descendants(options, result);
  return result;
}

// The same syntax as the shim's (preload/config.cpp): a number, an optional
// K/M/G/T (powers of 1024), an optional "iB" or "B".
std::optional<uint64_t> parse_size(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 19) return std::nullopt;
  std::string_view unit = std::string_view(text).substr(digits);
  int shift = 0;
  if (!unit.empty() && std::string_view("kKmMgGtT").find(unit[0]) != std::string_view::npos) {
    shift = 10 * int(std::string_view("kmgt").find(char(std::tolower(static_cast<unsigned char>(unit[0])))) + 1);
    unit.remove_prefix(1);
    if (unit == "iB" || unit == "B" || unit == "b") unit = {};
  } else if (unit == "B") {
    unit = {};
  }
  if (!unit.empty()) return std::nullopt;
  unsigned long long value = std::strtoull(text.substr(0, digits).c_str(), nullptr, 10);
  if (value > (~0ull >> shift)) return std::nullopt;
  return uint64_t(value) << shift;
}

}  // namespace connleak
