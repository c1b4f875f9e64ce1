// Interposed I/O calls: they only count bytes and the time of the last I/O
// on tracked sockets (Tracker::on_io); no record is written per call.
//
// Every read and write of the program passes here, so each hook looks the fd
// up before the call: for an fd that is no tracked socket (a file, a pipe)
// the real function is then reached by a tail call, and the shim costs a
// table look-up and a jump. A socket the fd table learns of during the call
// can only be a new one at a reused number, which the program cannot be
// reading yet.
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fork_gate.h"
#include "hook_support.h"

using namespace connleak::shim;

namespace {

// Nothing is tracked before tracing starts, so no separate check for that.
inline bool untracked(int fd) { return __builtin_expect(!tracker().is_tracked(fd), 1); }

constexpr bool kSent = true, kReceived = false;

// The real call, then the bytes counted if fd is a tracked socket; also the
// first call of each hook, which resolves the real function. Reached by a
// tail call from the hook, so its return address is the program's caller.
template <auto Real, class... Args>
__attribute__((noinline)) auto counted_call(bool sent, int fd, Args... args) {
  auto result = Real(__builtin_return_address(0))(fd, args...);
  if (result > 0) tracker().on_io(fd, ssize_t(result), sent);
  return result;
}

// Calls the real function *Resolved (real::pointer::name) with (fd, args...),
// counting the bytes it moved when fd is a tracked socket. Both ways end in
// a tail call with nothing merged after them, so the hook has no stack frame.
template <auto* Resolved, auto Real, class... Args>
inline auto io_call(bool sent, int fd, Args... args) {
  auto real_function = __atomic_load_n(Resolved, __ATOMIC_ACQUIRE);
  if (__builtin_expect(real_function != nullptr, 1) && untracked(fd)) return real_function(fd, args...);
  return counted_call<Real>(sent, fd, args...);
}

// recvmmsg/sendmmsg report bytes per message.
int counted_messages(int fd, int messages, const mmsghdr* vector, bool sent) {
  if (messages <= 0 || !tracing_started()) return messages;
  size_t bytes = 0;
  for (int i = 0; i < messages; ++i) bytes += vector[i].msg_len;
  tracker().on_io(fd, ssize_t(bytes), sent);
  return messages;
}

}  // namespace

CONNLEAK_EXPORT ssize_t read(int fd, void* buffer, size_t count) {
  return io_call<&real::pointer::read, real::read>(kReceived, fd, buffer, count);
}

CONNLEAK_EXPORT ssize_t write(int fd, const void* buffer, size_t count) {
  return io_call<&real::pointer::write, real::write>(kSent, fd, buffer, count);
}

CONNLEAK_EXPORT ssize_t readv(int fd, const iovec* vector, int count) {
  return io_call<&real::pointer::readv, real::readv>(kReceived, fd, vector, count);
}

CONNLEAK_EXPORT ssize_t writev(int fd, const iovec* vector, int count) {
  return io_call<&real::pointer::writev, real::writev>(kSent, fd, vector, count);
}

CONNLEAK_EXPORT ssize_t send(int fd, const void* buffer, size_t length, int flags) {
  return io_call<&real::pointer::send, real::send>(kSent, fd, buffer, length, flags);
}

CONNLEAK_EXPORT ssize_t sendto(int fd, const void* buffer, size_t length, int flags, const sockaddr* to,
                               socklen_t to_len) {
  return io_call<&real::pointer::sendto, real::sendto>(kSent, fd, buffer, length, flags, to, to_len);
}

// sendmsg() may pass sockets on (SCM_RIGHTS): the kernel read the message,
// so the shim may too.
CONNLEAK_EXPORT ssize_t sendmsg(int fd, const msghdr* message, int flags) {
  ssize_t result = io_call<&real::pointer::sendmsg, real::sendmsg>(kSent, fd, message, flags);
  if (result >= 0 && message->msg_controllen && tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_sent_fds(message);
  }
  return result;
}

CONNLEAK_EXPORT int sendmmsg(int fd, mmsghdr* vector, unsigned int count, int flags) {
  if (untracked(fd)) return real::sendmmsg()(fd, vector, count, flags);
  int sent = counted_messages(fd, real::sendmmsg()(fd, vector, count, flags), vector, true);
  ErrnoKeeper keep;
  for (int i = 0; i < sent; ++i)
    if (vector[i].msg_hdr.msg_controllen) tracker().on_sent_fds(&vector[i].msg_hdr);
  return sent;
}

CONNLEAK_EXPORT ssize_t recv(int fd, void* buffer, size_t length, int flags) {
  return io_call<&real::pointer::recv, real::recv>(kReceived, fd, buffer, length, flags);
}

CONNLEAK_EXPORT ssize_t recvfrom(int fd, void* buffer, size_t length, int flags, sockaddr* from,
                                 socklen_t* from_len) {
  return io_call<&real::pointer::recvfrom, real::recvfrom>(kReceived, fd, buffer, length, flags, from, from_len);
}

// recvmsg() may also bring sockets (SCM_RIGHTS): they become tracked here.
CONNLEAK_EXPORT ssize_t recvmsg(int fd, msghdr* message, int flags) {
  ssize_t result = real::recvmsg()(fd, message, flags);
  if (result >= 0 && tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_io(fd, result, false);
    if (message && message->msg_controllen) {
      fork_gate::FdCall recording;
      tracker().on_received_fds(message, flags);
    }
  }
  return result;
}

CONNLEAK_EXPORT int recvmmsg(int fd, mmsghdr* vector, unsigned int count, int flags, timespec* timeout) {
  int result = real::recvmmsg()(fd, vector, count, flags, timeout);
  if (result > 0 && tracing_started()) {
    ErrnoKeeper keep;
    counted_messages(fd, result, vector, false);
    for (int i = 0; i < result; ++i) {
      if (vector[i].msg_hdr.msg_controllen) {
        fork_gate::FdCall recording;
        tracker().on_received_fds(&vector[i].msg_hdr, flags);
      }
    }
  }
  return result;
}

CONNLEAK_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  return io_call<&real::pointer::sendfile, real::sendfile>(kSent, out_fd, in_fd, offset, count);
}

CONNLEAK_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t* offset, size_t count) {
  return io_call<&real::pointer::sendfile64, real::sendfile64>(kSent, out_fd, in_fd, offset, count);
}
