// Interposed process calls: exec (the image ends; close-on-exec sockets end
// with it), vfork, _exit, dlopen. fork() itself is seen through
// pthread_atfork handlers (shim_main.cpp), which also cover glibc-internal
// forks such as daemon()'s.
#include <alloca.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "hook_support.h"

using namespace connleak::shim;

namespace {

template <class Call>
int exec_common(const char* path, Call&& call) {
  if (tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_exec(path);
  }
  int result = call();
  if (tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_exec_failed(errno);
  }
  return result;
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
  return exec_common(path, [&] { return real::execve()(path, argv, envp); });
}

CONNLEAK_EXPORT int execv(const char* path, char* const argv[]) {
  return exec_common(path, [&] { return real::execv()(path, argv); });
}

CONNLEAK_EXPORT int execvp(const char* file, char* const argv[]) {
  return exec_common(file, [&] { return real::execvp()(file, argv); });
}

CONNLEAK_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  return exec_common(file, [&] { return real::execvpe()(file, argv, envp); });
}

CONNLEAK_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  return exec_common(path, [&] { return real::fexecve()(fd, argv, envp); });
}

CONNLEAK_EXPORT int execl(const char* path, const char* arg, ...) {
  [[maybe_unused]] char** envp = nullptr;
  CONNLEAK_COLLECT_ARGS(arg, argv, envp, false);
  return exec_common(path, [&] { return real::execv()(path, argv); });
}

CONNLEAK_EXPORT int execlp(const char* file, const char* arg, ...) {
  [[maybe_unused]] char** envp = nullptr;
  CONNLEAK_COLLECT_ARGS(arg, argv, envp, false);
  return exec_common(file, [&] { return real::execvp()(file, argv); });
}

CONNLEAK_EXPORT int execle(const char* path, const char* arg, ...) {
  char** envp = nullptr;
  CONNLEAK_COLLECT_ARGS(arg, argv, envp, true);
  return exec_common(path, [&] { return real::execve()(path, argv, envp); });
}

// A vfork() child shares the parent's memory, so anything it records would
// land in the parent's trace. POSIX lets vfork() be fork(); the shim does that.
CONNLEAK_EXPORT pid_t vfork() { return fork(); }

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

CONNLEAK_EXPORT void* dlopen(const char* file, int mode) {
  void* handle = real::dlopen()(file, mode);
  if (handle && tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_dlopen();
  }
  return handle;
}
