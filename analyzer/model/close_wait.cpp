// The TCP sockets in CLOSE_WAIT, asked of the kernel with sock_diag
// (NETLINK_SOCK_DIAG) with a state filter: the kernel answers with those
// alone, where /proc/net/tcp would list every socket of the namespace (a
// busy client has hundreds of thousands in TIME_WAIT).
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "model/running.h"

namespace connleak {
namespace {

bool ask(int fd, uint8_t family) {
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof(message);
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.request.sdiag_family = family;
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = 1u << TCP_CLOSE_WAIT;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  return sendto(fd, &message, sizeof(message), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) ==
         ssize_t(sizeof(message));
}

// Reads the dump's answers until its end; false on an error.
bool collect(int fd, std::set<uint64_t>& inodes) {
  alignas(nlmsghdr) char buffer[32768];
  for (;;) {
    ssize_t got = recv(fd, buffer, sizeof(buffer), 0);
    if (got <= 0) return false;
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, size_t(got)); h = NLMSG_NEXT(h, got)) {
      if (h->nlmsg_type == NLMSG_DONE) return true;
      if (h->nlmsg_type == NLMSG_ERROR) return false;
      auto* socket = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
      if (socket->idiag_state == TCP_CLOSE_WAIT) inodes.insert(socket->idiag_inode);
    }
  }
}

}  // namespace

std::optional<std::set<uint64_t>> close_wait_inodes() {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return std::nullopt;
  std::set<uint64_t> inodes;
  bool ok = true;
  for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)}) ok = ok && ask(fd, family) && collect(fd, inodes);
  close(fd);
  if (!ok) return std::nullopt;
  return inodes;
}

}  // namespace connleak
