// Interposed fd calls: close, dup, fcntl, close_range, fclose. They act only
// on fds the tracker knows as sockets; the shim has no fd of its own to
// guard, so each call is the program's call, unchanged.
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "fork_gate.h"
#include "hook_support.h"

using namespace connleak::shim;
using connleak::trace::DupVia;

namespace {

int close_common(int fd, FILE* stream) {
  if (!tracing_started()) return stream ? real::fclose()(stream) : real::close()(fd);
  fork_gate::FdCall call;
  Tracker::CloseTicket ticket = tracker().begin_close(fd, stream != nullptr);
  int result = stream ? real::fclose()(stream) : real::close()(fd);
  ErrnoKeeper keep;
  tracker().end_close(ticket, fd, result, errno);
  return result;
}

void after_dup(int old_fd, int new_fd, DupVia via, bool cloexec) {
  if (new_fd < 0 || old_fd == new_fd || !tracing_started()) return;
  ErrnoKeeper keep;
  tracker().on_dup(old_fd, new_fd, via, cloexec);
}

int fcntl_setting(decltype(&::fcntl) real_fcntl, int fd, int cmd, void* arg);

int fcntl_common(decltype(&::fcntl) real_fcntl, int fd, int cmd, void* arg) {
  if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) return fcntl_setting(real_fcntl, fd, cmd, arg);
  if (!tracing_started()) return real_fcntl(fd, cmd, arg);
  fork_gate::FdCall call;
  int result = real_fcntl(fd, cmd, arg);
  after_dup(fd, result, DupVia::kFcntl, cmd == F_DUPFD_CLOEXEC);
  return result;
}

int fcntl_setting(decltype(&::fcntl) real_fcntl, int fd, int cmd, void* arg) {
  int result = real_fcntl(fd, cmd, arg);
  if (result < 0 || !tracing_started()) return result;
  if (cmd == F_SETFD) {
    ErrnoKeeper keep;
    tracker().on_set_cloexec(fd, reinterpret_cast<uintptr_t>(arg) & FD_CLOEXEC);
  }
  return result;
}

}  // namespace

CONNLEAK_EXPORT int close(int fd) {
  // Most closes are of files and pipes: straight to libc by a tail call,
  // once the real close() is known.
  auto real_close = __atomic_load_n(&connleak::real::pointer::close, __ATOMIC_ACQUIRE);
  if (__builtin_expect(real_close != nullptr, 1) && tracker().nothing_at(fd)) return real_close(fd);
  return close_common(fd, nullptr);
}

CONNLEAK_EXPORT int fclose(FILE* stream) {
  if (!stream) return real::fclose()(stream);
  return close_common(fileno(stream), stream);
}

// libunwind asks for a pipe to probe memory with; refused, it treats the
// memory as unreadable and ends the stack there (stack_table.h). The program
// keeps every fd number it would have had.
CONNLEAK_EXPORT int pipe2(int fds[2], int flags) {
  if (inside_unwinder()) {
    errno = EMFILE;
    return -1;
  }
  return real::pipe2()(fds, flags);
}

CONNLEAK_EXPORT int dup(int fd) {
  if (!tracing_started()) return real::dup()(fd);
  fork_gate::FdCall call;
  int result = real::dup()(fd);
  after_dup(fd, result, DupVia::kDup, false);
  return result;
}

CONNLEAK_EXPORT int dup2(int old_fd, int new_fd) {
  if (!tracing_started()) return real::dup2()(old_fd, new_fd);
  fork_gate::FdCall call;
  int result = real::dup2()(old_fd, new_fd);
  after_dup(old_fd, result, DupVia::kDup2, false);
  return result;
}

CONNLEAK_EXPORT int dup3(int old_fd, int new_fd, int flags) {
  if (!tracing_started()) return real::dup3()(old_fd, new_fd, flags);
  fork_gate::FdCall call;
  int result = real::dup3()(old_fd, new_fd, flags);
  after_dup(old_fd, result, DupVia::kDup3, flags & O_CLOEXEC);
  return result;
}

// fcntl's third argument is an int, a long or a pointer depending on `cmd`;
// all are passed in one register, so forwarding it as a pointer is exact.
CONNLEAK_EXPORT int fcntl(int fd, int cmd, ...) {
  va_list args;
  va_start(args, cmd);
  void* arg = va_arg(args, void*);
  va_end(args);
  return fcntl_common(real::fcntl(), fd, cmd, arg);
}

CONNLEAK_EXPORT int fcntl64(int fd, int cmd, ...) {
  va_list args;
  va_start(args, cmd);
  void* arg = va_arg(args, void*);
  va_end(args);
  return fcntl_common(real::fcntl64(), fd, cmd, arg);
}

CONNLEAK_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  if (!tracing_started()) return real::close_range()(first, last, flags);
  fork_gate::FdCall call;
  int result = real::close_range()(first, last, flags);
  {
    ErrnoKeeper keep;
    tracker().on_close_range(first, last, flags, result == 0 ? 0 : errno);
  }
  return result;
}

// closefrom() cannot fail (glibc aborts if it cannot close).
CONNLEAK_EXPORT void closefrom(int low_fd) {
  if (!tracing_started()) return real::closefrom()(low_fd);
  fork_gate::FdCall call;
  real::closefrom()(low_fd);
  {
    ErrnoKeeper keep;
    tracker().on_close_range(unsigned(low_fd < 0 ? 0 : low_fd), ~0U, 0, 0);
  }
}
