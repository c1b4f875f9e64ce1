// How sockets are named in reports: addresses, families, protocols.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "model/model.h"

namespace connleak {

std::string format_address(const std::string& raw) {
  if (raw.size() < sizeof(sa_family_t)) return "";
  sockaddr_storage ss{};
  std::memcpy(&ss, raw.data(), std::min(raw.size(), sizeof(ss)));
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET && raw.size() >= sizeof(sockaddr_in)) {
    auto& in = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &in.sin_addr, text, sizeof(text));
    return std::string(text) + ":" + std::to_string(ntohs(in.sin_port));
  }
  if (ss.ss_family == AF_INET6 && raw.size() >= sizeof(sockaddr_in6)) {
    auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss);
    inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof(text));
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(in6.sin6_port));
  }
  if (ss.ss_family == AF_UNIX) {
    size_t offset = offsetof(sockaddr_un, sun_path);
    if (raw.size() <= offset) return "(unnamed)";
    std::string path = raw.substr(offset);
    if (path[0] == '\0') return "@" + path.substr(1);  // abstract namespace
    return path.substr(0, path.find('\0'));
  }
  return "";
}

std::string family_name(int domain) {
  switch (domain) {
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    case AF_UNIX: return "unix";
    case AF_NETLINK: return "netlink";
    case AF_PACKET: return "packet";
    default: return "other";
  }
}

std::string protocol_name(int domain, int type, int protocol) {
  bool ip = domain == AF_INET || domain == AF_INET6;
  if (ip && type == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP)) return "tcp";
  if (ip && type == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP)) return "udp";
  if (ip && protocol == IPPROTO_SCTP) return "sctp";
  if (type == SOCK_RAW) return "raw";
  switch (type) {
    case SOCK_STREAM: return "stream";
    case SOCK_DGRAM: return "dgram";
    case SOCK_SEQPACKET: return "seqpacket";
    default: return "other";
  }
}

}  // namespace connleak
