// Interposed socket calls: creation, connection, addresses.
#include <string.h>

#include "hook_support.h"

using namespace connleak::shim;

namespace {

// accept() may be called with no address buffer; the shim then passes its
// own, so it learns the peer without a getpeername() call of its own.
class PeerBuffer {
 public:
  PeerBuffer(sockaddr* addr, socklen_t* len) : caller_addr_(addr), caller_len_(len) {
    if (!addr || !len) {
      own_len_ = sizeof(own_);
      addr_ = reinterpret_cast<sockaddr*>(&own_);
      len_ = &own_len_;
    } else {
      capacity_ = *len;
      addr_ = addr;
      len_ = len;
    }
  }
  sockaddr* addr() const { return addr_; }
  socklen_t* len() const { return len_; }
  // The bytes of the peer address that are really in the buffer.
  socklen_t filled() const {
    if (addr_ != caller_addr_) return own_len_;
    return *len_ < capacity_ ? *len_ : capacity_;
  }

 private:
  sockaddr* caller_addr_;
  socklen_t* caller_len_;
  sockaddr_storage own_{};
  socklen_t own_len_ = 0;
  socklen_t capacity_ = 0;
  sockaddr* addr_;
  socklen_t* len_;
};

int accept_common(int listen_fd, sockaddr* addr, socklen_t* len, int flags, bool is_accept4) {
  PeerBuffer peer(addr, len);
  int fd = is_accept4 ? real::accept4()(listen_fd, peer.addr(), peer.len(), flags)
                      : real::accept()(listen_fd, peer.addr(), peer.len());
  if (fd >= 0 && tracing()) {
    ErrnoKeeper keep;
    tracker().on_accept(fd, listen_fd, peer.addr(), peer.filled(), flags);
  }
  return fd;
}

}  // namespace

CONNLEAK_EXPORT int socket(int domain, int type, int protocol) {
  int fd = real::socket()(domain, type, protocol);
  if (fd >= 0 && tracing()) {
    ErrnoKeeper keep;
    tracker().on_socket(fd, domain, type, protocol);
  }
  return fd;
}

CONNLEAK_EXPORT int socketpair(int domain, int type, int protocol, int fds[2]) {
  int result = real::socketpair()(domain, type, protocol, fds);
  if (result == 0 && tracing()) {
    ErrnoKeeper keep;
    tracker().on_socketpair(fds, domain, type, protocol);
  }
  return result;
}

CONNLEAK_EXPORT int connect(int fd, const sockaddr* addr, socklen_t len) {
  int result = real::connect()(fd, addr, len);
  if (tracing() && tracker().is_tracked(fd)) {
    ErrnoKeeper keep;
    tracker().on_connect(fd, addr, len, result == 0 ? 0 : errno);
  }
  return result;
}

CONNLEAK_EXPORT int accept(int fd, sockaddr* addr, socklen_t* len) {
  return accept_common(fd, addr, len, 0, false);
}

CONNLEAK_EXPORT int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  return accept_common(fd, addr, len, flags, true);
}

CONNLEAK_EXPORT int bind(int fd, const sockaddr* addr, socklen_t len) {
  int result = real::bind()(fd, addr, len);
  if (tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_bind(fd, addr, len, result == 0 ? 0 : errno);
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
