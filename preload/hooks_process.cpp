// Interposed process calls: exec and posix_spawn (the image ends or a new
// one starts; close-on-exec sockets end at exec), the wait family (how
// children ended), vfork, _exit, dlclose. fork() itself is seen through
// pthread_atfork handlers (shim_main.cpp), which also cover glibc-internal
// forks such as daemon()'s.
#include <alloca.h>
#include <pthread.h>
#include <dlfcn.h>
#include <spawn.h>
#include <stdarg.h>
#include <sched.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_check.h"
#include "exec_env.h"
#include "hook_support.h"
#include "loaded_objects.h"
#include "user_memory.h"

using namespace connleak::shim;

namespace {

// Every exec goes through here: the sockets that may survive are noted, the
// environment keeps the shim, and a failed exec is recorded as such. `call`
// gets the environment to use.
// Arguments the kernel (or libc) would reject with EFAULT go to the real
// call untouched: reading them here would crash instead.
bool arguments_readable(const char* path, char* const* envp) {
  return readable_string(path) && (!envp || readable_strings(envp));
}

// A fork child still waiting for its first event (Tracker::waiting_child)
// has nothing to record at exec; the next image is traced all the same.
template <class Call>
int exec_unrecorded(const char* path, char* const* envp, Call&& call, bool search_path) {
  NextImageEnv next(envp);
  {
    ErrnoKeeper keep;
    warn_if_untraceable(path, search_path);
  }
  return call(next.envp());
}

template <class Call>
int exec_common(const char* path, char* const* envp, Call&& call, bool search_path = false) {
  bool waiting = !tracing_started() && tracker().waiting_child();
  if ((!tracing_started() && !waiting) || !arguments_readable(path, envp)) return call(envp);
  if (waiting) return exec_unrecorded(path, envp, call, search_path);
  NextImageEnv next(envp);
  {
    ErrnoKeeper keep;
    warn_if_untraceable(path, search_path);
    tracker().before_handing_over();
    tracker().on_exec(path);
  }
  int result = call(next.envp());
  ErrnoKeeper keep;
  tracker().on_exec_failed(errno);
  return result;
}

template <class Spawn>
int spawn_common(pid_t* pid, const char* path, char* const* envp, Spawn&& spawn, bool search_path = false) {
  bool traced = tracing_started() || (tracker().waiting_child() && tracing());  // a waiting child records it
  if (!traced || !arguments_readable(path, envp)) return spawn(pid, envp);
  NextImageEnv next(envp);
  {
    ErrnoKeeper keep;
    warn_if_untraceable(path, search_path);
    tracker().before_handing_over();
  }
  pid_t child = -1;
  int result = spawn(&child, next.envp());
  if (pid && result == 0) *pid = child;
  ErrnoKeeper keep;
  tracker().on_spawn(path, result == 0 ? child : -1, result);
  return result;
}

// A child reaped with an exit or a fatal signal is recorded; stops and
// continues are not ends.
// The status is read only once the kernel has written it (it rejects a bad
// pointer with EFAULT).
pid_t after_wait(pid_t child, const int* where) {
  if (child <= 0 || !tracing_started()) return child;
  int status = *where;
  if (WIFEXITED(status) || WIFSIGNALED(status)) {
    ErrnoKeeper keep;
    tracker().on_child_exit(child, status);
  }
  return child;
}

// execl()-style argument lists, gathered into an argv array on the stack.
// execle() has envp after the terminating NULL; the others have nothing.
#define CONNLEAK_COLLECT_ARGS(first, argv_out, envp_out, has_envp) \
  va_list count_args;                                            \
  va_start(count_args, first);                                   \
  size_t argc = 1;                                               \
  while (va_arg(count_args, const char*)) ++argc;                \
  va_end(count_args);                                            \
  auto** argv_out = static_cast<char**>(alloca((argc + 1) * sizeof(char*))); \
  va_list args;                                                  \
  va_start(args, first);                                         \
  argv_out[0] = const_cast<char*>(first);                        \
  for (size_t i = 1; i <= argc; ++i) argv_out[i] = va_arg(args, char*); \
  if (has_envp) envp_out = va_arg(args, char**);                 \
  va_end(args)

}  // namespace

CONNLEAK_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  return exec_common(path, envp, [&](char* const* env) { return real::execve()(path, argv, env); });
}

CONNLEAK_EXPORT int execv(const char* path, char* const argv[]) {
  return exec_common(path, environ, [&](char* const* env) { return real::execve()(path, argv, env); });
}

CONNLEAK_EXPORT int execvp(const char* file, char* const argv[]) {
  return exec_common(
      file, environ, [&](char* const* env) { return real::execvpe()(file, argv, env); }, true);
}

CONNLEAK_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  return exec_common(
      file, envp, [&](char* const* env) { return real::execvpe()(file, argv, env); }, true);
}

CONNLEAK_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  return exec_common(path, envp, [&](char* const* env) { return real::fexecve()(fd, argv, env); });
}

CONNLEAK_EXPORT int execl(const char* path, const char* arg, ...) {
  [[maybe_unused]] char** envp = nullptr;
  CONNLEAK_COLLECT_ARGS(arg, argv, envp, false);
  return exec_common(path, environ, [&](char* const* env) { return real::execve()(path, argv, env); });
}

CONNLEAK_EXPORT int execlp(const char* file, const char* arg, ...) {
  [[maybe_unused]] char** envp = nullptr;
  CONNLEAK_COLLECT_ARGS(arg, argv, envp, false);
  return exec_common(
      file, environ, [&](char* const* env) { return real::execvpe()(file, argv, env); }, true);
}

CONNLEAK_EXPORT int execle(const char* path, const char* arg, ...) {
  char** envp = nullptr;
  CONNLEAK_COLLECT_ARGS(arg, argv, envp, true);
  return exec_common(path, envp, [&](char* const* env) { return real::execve()(path, argv, env); });
}

CONNLEAK_EXPORT int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                                const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
  return spawn_common(pid, path, envp, [&](pid_t* child, char* const* env) {
    return real::posix_spawn()(child, path, actions, attributes, argv, env);
  });
}

CONNLEAK_EXPORT int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                                 const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
  return spawn_common(pid, file, envp, [&](pid_t* child, char* const* env) {
    return real::posix_spawnp()(child, file, actions, attributes, argv, env);
  }, true);
}

CONNLEAK_EXPORT pid_t wait(int* status) {
  int own = 0;
  int* where = status ? status : &own;
  pid_t child = real::wait()(where);  // before *where is read
  return after_wait(child, where);
}

CONNLEAK_EXPORT pid_t waitpid(pid_t pid, int* status, int options) {
  int own = 0;
  int* where = status ? status : &own;
  pid_t child = real::waitpid()(pid, where, options);  // before *where is read
  return after_wait(child, where);
}

CONNLEAK_EXPORT pid_t wait3(int* status, int options, rusage* usage) {
  int own = 0;
  int* where = status ? status : &own;
  pid_t child = real::wait3()(where, options, usage);  // before *where is read
  return after_wait(child, where);
}

CONNLEAK_EXPORT pid_t wait4(pid_t pid, int* status, int options, rusage* usage) {
  int own = 0;
  int* where = status ? status : &own;
  pid_t child = real::wait4()(pid, where, options, usage);  // before *where is read
  return after_wait(child, where);
}

// waitid() reports in a siginfo_t; it becomes a wait status.
CONNLEAK_EXPORT int waitid(idtype_t type, id_t id, siginfo_t* info, int options) {
  int result = real::waitid()(type, id, info, options);
  if (result == 0 && info && info->si_pid > 0 && !(options & WNOWAIT)) {
    if (info->si_code == CLD_EXITED) {
      int status = W_EXITCODE(info->si_status, 0);
      after_wait(info->si_pid, &status);
    } else if (info->si_code == CLD_KILLED || info->si_code == CLD_DUMPED) {
      int status = info->si_status | (info->si_code == CLD_DUMPED ? WCOREFLAG : 0);
      after_wait(info->si_pid, &status);
    }
  }
  return result;
}

// A vfork() child shares the parent's memory, so anything it records would
// land in the parent's trace. POSIX lets vfork() be fork(); the shim does that.
CONNLEAK_EXPORT pid_t vfork() { return fork(); }

// Before the process may lose what making its trace needs: a fork child
// still waiting for its first event (Tracker::waiting_child) makes it while
// it still can. True when tracing.
static bool before_losing_access() {
  if (tracing_started()) return true;
  if (!tracker().waiting_child()) return false;
  ErrnoKeeper keep;
  return tracing();
}

// Giving up a user, or the file system root: besides, the trace takes the
// room it may not be able to take later (Tracker::before_user_change).
static void before_user_change() {
  if (!before_losing_access()) return;
  ErrnoKeeper keep;
  tracker().before_user_change();
}

CONNLEAK_EXPORT int chroot(const char* path) {
  before_user_change();
  return real::chroot()(path);
}

// The other ways a process takes away what making its trace needs (a file
// in the output directory, an fd, room to map it): a seccomp filter, fewer
// privileges, lower limits, other namespaces. (A filter installed with the
// seccomp system call itself is not seen; libseccomp sets no_new_privs
// through prctl first, unless running as root.)
CONNLEAK_EXPORT int prctl(int option, ...) {
  va_list args;
  va_start(args, option);
  unsigned long a2 = va_arg(args, unsigned long), a3 = va_arg(args, unsigned long);
  unsigned long a4 = va_arg(args, unsigned long), a5 = va_arg(args, unsigned long);
  va_end(args);
  if (option == PR_SET_SECCOMP || option == PR_SET_NO_NEW_PRIVS || option == PR_CAPBSET_DROP ||
      option == PR_SET_SECUREBITS)
    before_losing_access();
  return real::prctl()(option, a2, a3, a4, a5);
}

static bool limits_tracing(int resource) {
  return resource == RLIMIT_NOFILE || resource == RLIMIT_FSIZE || resource == RLIMIT_AS;
}

CONNLEAK_EXPORT int setrlimit(__rlimit_resource_t resource, const struct rlimit* limit) {
  if (limits_tracing(resource)) before_losing_access();
  return real::setrlimit()(resource, limit);
}

CONNLEAK_EXPORT int setrlimit64(__rlimit_resource_t resource, const struct rlimit64* limit) {
  if (limits_tracing(resource)) before_losing_access();
  return real::setrlimit64()(resource, limit);
}

CONNLEAK_EXPORT int prlimit(pid_t pid, __rlimit_resource resource, const struct rlimit* limit, struct rlimit* old) {
  if (limit && (pid == 0 || pid == getpid()) && limits_tracing(resource)) before_losing_access();
  return real::prlimit()(pid, resource, limit, old);
}

CONNLEAK_EXPORT int prlimit64(pid_t pid, __rlimit_resource resource, const struct rlimit64* limit,
                              struct rlimit64* old) {
  if (limit && (pid == 0 || pid == getpid()) && limits_tracing(resource)) before_losing_access();
  return real::prlimit64()(pid, resource, limit, old);
}

CONNLEAK_EXPORT int unshare(int flags) {
  before_losing_access();
  return real::unshare()(flags);
}

CONNLEAK_EXPORT int setns(int fd, int type) {
  before_losing_access();
  return real::setns()(fd, type);
}

CONNLEAK_EXPORT int setuid(uid_t uid) {
  before_user_change();
  return real::setuid()(uid);
}

CONNLEAK_EXPORT int seteuid(uid_t euid) {
  before_user_change();
  return real::seteuid()(euid);
}

CONNLEAK_EXPORT int setreuid(uid_t ruid, uid_t euid) {
  before_user_change();
  return real::setreuid()(ruid, euid);
}

CONNLEAK_EXPORT int setresuid(uid_t ruid, uid_t euid, uid_t suid) {
  before_user_change();
  return real::setresuid()(ruid, euid, suid);
}

CONNLEAK_EXPORT void _exit(int status) {
  if (tracing_started()) tracker().on_exit(status, connleak::trace::EndVia::kUnderscoreExit);
  real::_exit()(status);
  __builtin_unreachable();
}

CONNLEAK_EXPORT void _Exit(int status) {
  if (tracing_started()) tracker().on_exit(status, connleak::trace::EndVia::kUnderscoreExit);
  real::_Exit()(status);
  __builtin_unreachable();
}

// The program's own calls go to libc unchanged; libunwind's, inside the
// shim's unwind, go through loaded_objects.h.
CONNLEAK_EXPORT int dl_iterate_phdr(int (*visit)(dl_phdr_info*, size_t, void*), void* data) {
  if (inside_unwinder()) return iterate_loaded_objects(visit, data);
  return real::dl_iterate_phdr()(visit, data);
}

CONNLEAK_EXPORT int dlclose(void* handle) {
  int result = real::dlclose()(handle);
  // A waiting fork child (Tracker::waiting_child) forgets too: the library
  // may come back at another address.
  if (result == 0 && (tracing_started() || tracker().waiting_child())) {
    ErrnoKeeper keep;
    tracker().on_dlclose();
  }
  return result;
}
