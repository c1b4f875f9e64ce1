// Interposed I/O calls: they only count bytes and the time of the last I/O
// on tracked sockets (Tracker::on_io); no record is written per call. For an
// fd that is no socket the cost is one table look-up.
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hook_support.h"

using namespace connleak::shim;

namespace {

template <class Result>
Result counted(int fd, Result result, bool sent) {
  if (result > 0 && tracing_started()) tracker().on_io(fd, ssize_t(result), sent);
  return result;
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
  return counted(fd, real::read()(fd, buffer, count), false);
}

CONNLEAK_EXPORT ssize_t write(int fd, const void* buffer, size_t count) {
  return counted(fd, real::write()(fd, buffer, count), true);
}

CONNLEAK_EXPORT ssize_t readv(int fd, const iovec* vector, int count) {
  return counted(fd, real::readv()(fd, vector, count), false);
}

CONNLEAK_EXPORT ssize_t writev(int fd, const iovec* vector, int count) {
  return counted(fd, real::writev()(fd, vector, count), true);
}

CONNLEAK_EXPORT ssize_t send(int fd, const void* buffer, size_t length, int flags) {
  return counted(fd, real::send()(fd, buffer, length, flags), true);
}

CONNLEAK_EXPORT ssize_t sendto(int fd, const void* buffer, size_t length, int flags, const sockaddr* to,
                               socklen_t to_len) {
  return counted(fd, real::sendto()(fd, buffer, length, flags, to, to_len), true);
}

CONNLEAK_EXPORT ssize_t sendmsg(int fd, const msghdr* message, int flags) {
  return counted(fd, real::sendmsg()(fd, message, flags), true);
}

CONNLEAK_EXPORT int sendmmsg(int fd, mmsghdr* vector, unsigned int count, int flags) {
  return counted_messages(fd, real::sendmmsg()(fd, vector, count, flags), vector, true);
}

CONNLEAK_EXPORT ssize_t recv(int fd, void* buffer, size_t length, int flags) {
  return counted(fd, real::recv()(fd, buffer, length, flags), false);
}

CONNLEAK_EXPORT ssize_t recvfrom(int fd, void* buffer, size_t length, int flags, sockaddr* from,
                                 socklen_t* from_len) {
  return counted(fd, real::recvfrom()(fd, buffer, length, flags, from, from_len), false);
}

// recvmsg() may also bring sockets (SCM_RIGHTS): they become tracked here.
CONNLEAK_EXPORT ssize_t recvmsg(int fd, msghdr* message, int flags) {
  ssize_t result = real::recvmsg()(fd, message, flags);
  if (result >= 0 && tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_io(fd, result, false);
    if (message && message->msg_controllen) tracker().on_received_fds(message, flags);
  }
  return result;
}

CONNLEAK_EXPORT int recvmmsg(int fd, mmsghdr* vector, unsigned int count, int flags, timespec* timeout) {
  int result = real::recvmmsg()(fd, vector, count, flags, timeout);
  if (result > 0 && tracing_started()) {
    ErrnoKeeper keep;
    counted_messages(fd, result, vector, false);
    for (int i = 0; i < result; ++i) {
      if (vector[i].msg_hdr.msg_controllen) tracker().on_received_fds(&vector[i].msg_hdr, flags);
    }
  }
  return result;
}

CONNLEAK_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  return counted(out_fd, real::sendfile()(out_fd, in_fd, offset, count), true);
}

CONNLEAK_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t* offset, size_t count) {
  return counted(out_fd, real::sendfile64()(out_fd, in_fd, offset, count), true);
}
