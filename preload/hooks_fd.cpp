// Interposed fd calls: close, dup, fcntl, close_range, fclose. They act only
// on fds the tracker knows as sockets, and they keep the shim's own trace fd
// out of the program's reach.
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "hook_support.h"

using namespace connleak::shim;
using connleak::trace::DupVia;

namespace {

bool is_own_fd(int fd) { return tracing_started() && tracker().owns_fd(fd); }

// A program that dup2()s onto the shim's fd gets that number; the trace fd
// moves elsewhere first.
void make_room_for(int fd) {
  if (is_own_fd(fd)) tracker().make_room_for(fd);
}

int close_common(int fd, FILE* stream) {
  if (!tracing_started()) return stream ? real::fclose()(stream) : real::close()(fd);
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

int fcntl_common(decltype(&::fcntl) real_fcntl, int fd, int cmd, void* arg) {
  if (!real_fcntl) return missing_function<int>();
  int result = real_fcntl(fd, cmd, arg);
  if (result < 0 || !tracing_started()) return result;
  if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
    after_dup(fd, result, DupVia::kFcntl, cmd == F_DUPFD_CLOEXEC);
  } else if (cmd == F_SETFD) {
    ErrnoKeeper keep;
    tracker().on_set_cloexec(fd, reinterpret_cast<uintptr_t>(arg) & FD_CLOEXEC);
  }
  return result;
}

// close_range over everything except the shim's own fds: the gaps between
// them, in order.
int close_range_around_own_fds(unsigned first, unsigned last, int flags) {
  auto real_close_range = real::close_range();
  if (!real_close_range) return missing_function<int>();
  int own[Tracker::kMaxOwnFds];
  int count = tracing_started() && !(flags & CLOSE_RANGE_CLOEXEC) ? tracker().own_fds(own) : 0;
  unsigned from = first;
  for (int i = 0; i < count && from <= last; ++i) {
    unsigned fd = unsigned(own[i]);
    if (fd < from || fd > last) continue;
    if (fd > from) {
      if (int result = real_close_range(from, fd - 1, flags); result != 0) return result;
    }
    if (fd == ~0U) return 0;
    from = fd + 1;
  }
  return from <= last && from >= first ? real_close_range(from, last, flags) : 0;
}

}  // namespace

CONNLEAK_EXPORT int close(int fd) {
  // Most closes are of files and pipes: straight to libc by a tail call,
  // once the real close() is known.
  auto real_close = __atomic_load_n(&connleak::real::pointer::close, __ATOMIC_ACQUIRE);
  if (__builtin_expect(real_close != nullptr, 1) && tracker().nothing_at(fd)) return real_close(fd);
  // The program may close "every fd" it finds; the shim's stays open.
  if (is_own_fd(fd)) return 0;
  return close_common(fd, nullptr);
}

CONNLEAK_EXPORT int fclose(FILE* stream) {
  if (!stream) return real::fclose()(stream);
  return close_common(fileno(stream), stream);
}

// libunwind's pipe is created at start-up (StackTable::warm_up); moving it
// high keeps the program's fd numbers exactly as without the shim.
CONNLEAK_EXPORT int pipe2(int fds[2], int flags) {
  int result = real::pipe2()(fds, flags);
  if (result == 0 && inside_unwinder()) tracker().adopt_unwinder_pipe(fds);
  return result;
}

CONNLEAK_EXPORT int dup(int fd) {
  int result = real::dup()(fd);
  after_dup(fd, result, DupVia::kDup, false);
  return result;
}

CONNLEAK_EXPORT int dup2(int old_fd, int new_fd) {
  make_room_for(new_fd);
  int result = real::dup2()(old_fd, new_fd);
  after_dup(old_fd, result, DupVia::kDup2, false);
  return result;
}

CONNLEAK_EXPORT int dup3(int old_fd, int new_fd, int flags) {
  make_room_for(new_fd);
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
  int result = close_range_around_own_fds(first, last, flags);
  if (tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_close_range(first, last, flags, result == 0 ? 0 : errno);
  }
  return result;
}

CONNLEAK_EXPORT void closefrom(int low_fd) {
  if (low_fd < 0) low_fd = 0;
  int result = close_range_around_own_fds(unsigned(low_fd), ~0U, 0);
  if (result != 0 && errno == ENOSYS && real::closefrom()) {
    real::closefrom()(low_fd);  // old kernel: glibc's fallback; the trace fd goes too
    result = 0;
  }
  if (tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_close_range(unsigned(low_fd), ~0U, 0, result == 0 ? 0 : errno);
  }
}
