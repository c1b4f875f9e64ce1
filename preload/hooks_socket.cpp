// Interposed socket calls: creation, connection, addresses.
#include <errno.h>
#include <string.h>

#include "fork_gate.h"
#include "hook_support.h"

using namespace connleak::shim;

namespace {

// Whether the kernel read the address it was given (connect, bind): always
// on success; on failure only if it did not reject the address itself or
// fail before copying it.
bool kernel_read_address(int result, int error) {
  return result == 0 || (error != EFAULT && error != EINVAL && error != EBADF && error != ENOTSOCK);
}

// accept() without an address buffer gets the shim's, so the shim learns
// the peer without a system call of its own (the kernel ignores the length
// then). A caller's buffer is passed on untouched: its length is read by the
// kernel, and the peer, possibly truncated there, is asked for afterwards.
int accept_common(int listen_fd, sockaddr* addr, socklen_t* len, int flags, bool is_accept4,
                  const void* caller) {
  sockaddr_storage own{};
  socklen_t own_len = sizeof(own);
  sockaddr* pass_addr = addr ? addr : reinterpret_cast<sockaddr*>(&own);
  socklen_t* pass_len = addr ? len : &own_len;
  if (!tracing()) {
    return is_accept4 ? real::accept4(caller)(listen_fd, addr, len, flags) : real::accept(caller)(listen_fd, addr, len);
  }
  fork_gate::BlockingFdCall in_flight;
  int fd = is_accept4 ? real::accept4(caller)(listen_fd, pass_addr, pass_len, flags)
                      : real::accept(caller)(listen_fd, pass_addr, pass_len);
  if (fd >= 0) {
    ErrnoKeeper keep;
    fork_gate::FdCall recording;
    if (addr && getpeername(fd, reinterpret_cast<sockaddr*>(&own), &own_len) != 0) own_len = 0;
    tracker().on_accept(fd, listen_fd, reinterpret_cast<sockaddr*>(&own), own_len < sizeof(own) ? own_len : sizeof(own), flags);
  }
  return fd;
}

}  // namespace

CONNLEAK_EXPORT int socket(int domain, int type, int protocol) {
  if (!tracing()) return real::socket()(domain, type, protocol);
  fork_gate::FdCall call;
  int fd = real::socket()(domain, type, protocol);
  if (fd >= 0) {
    ErrnoKeeper keep;
    tracker().on_socket(fd, domain, type, protocol);
  }
  return fd;
}

CONNLEAK_EXPORT int socketpair(int domain, int type, int protocol, int fds[2]) {
  if (!tracing()) return real::socketpair()(domain, type, protocol, fds);
  fork_gate::FdCall call;
  int result = real::socketpair()(domain, type, protocol, fds);
  if (result == 0) {
    ErrnoKeeper keep;
    tracker().on_socketpair(fds, domain, type, protocol);
  }
  return result;
}

CONNLEAK_EXPORT int connect(int fd, const sockaddr* addr, socklen_t len) {
  int result = real::connect()(fd, addr, len);
  if (tracing() && tracker().is_tracked(fd)) {
    int error = result == 0 ? 0 : errno;
    ErrnoKeeper keep;
    tracker().on_connect(fd, kernel_read_address(result, error) ? addr : nullptr, len, error);
  }
  return result;
}

CONNLEAK_EXPORT int accept(int fd, sockaddr* addr, socklen_t* len) {
  return accept_common(fd, addr, len, 0, false, __builtin_return_address(0));
}

CONNLEAK_EXPORT int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  return accept_common(fd, addr, len, flags, true, __builtin_return_address(0));
}

CONNLEAK_EXPORT int bind(int fd, const sockaddr* addr, socklen_t len) {
  int result = real::bind()(fd, addr, len);
  if (tracing_started()) {
    int error = result == 0 ? 0 : errno;
    ErrnoKeeper keep;
    tracker().on_bind(fd, kernel_read_address(result, error) ? addr : nullptr, len, error);
  }
  return result;
}

CONNLEAK_EXPORT int listen(int fd, int backlog) {
  int result = real::listen()(fd, backlog);
  if (result == 0 && tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_listen(fd, backlog);
  }
  return result;
}

CONNLEAK_EXPORT int shutdown(int fd, int how) {
  int result = real::shutdown()(fd, how);
  if (result == 0 && tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_shutdown(fd, how);
  }
  return result;
}
