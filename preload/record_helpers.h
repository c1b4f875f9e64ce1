// Small helpers for filling trace records.
#pragma once

#include <string.h>
#include <sys/socket.h>

#include "connleak/trace_format.h"

namespace connleak::shim {

// The bytes of a socket address that fit a record.
inline size_t address_bytes(const sockaddr* addr, socklen_t len) {
  if (!addr) return 0;
  return len < trace::kMaxSockaddr ? len : trace::kMaxSockaddr;
}

// Stores the address right after `tail` (the record reserved room for it).
inline void copy_address(trace::AddressTail* tail, const sockaddr* addr, socklen_t len) {
  size_t n = address_bytes(addr, len);
  tail->addr_len = uint16_t(n);
  if (n) memcpy(tail + 1, addr, n);
}

// An int socket option (SO_DOMAIN, SO_TYPE, ...), 0 when unknown.
inline int socket_option(int fd, int option) {
  int value = 0;
  socklen_t len = sizeof(value);
  return getsockopt(fd, SOL_SOCKET, option, &value, &len) == 0 ? value : 0;
}

}  // namespace connleak::shim
