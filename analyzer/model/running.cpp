// Which traced processes are still running: a trace without an end record
// whose pid names, right now, the process that wrote it (it started no
// later than the trace did; a pid reused since started after). Such a
// process is judged live, not as if it had ended.
#include "model/running.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace connleak {
namespace {

uint64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

// When the process now at `pid` started, as wall-clock ns; 0 when none.
uint64_t start_of_pid(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t comm_end = text.rfind(')');
  if (comm_end == std::string::npos) return 0;
  std::istringstream fields(text.substr(comm_end + 2));
  std::string field;
  for (int i = 3; i < 22 && fields >> field; ++i) {
  }
  unsigned long long ticks = 0;
  if (!(fields >> ticks)) return 0;
  long hz = sysconf(_SC_CLK_TCK);
  uint64_t since_boot = ticks * (1'000'000'000ull / uint64_t(hz > 0 ? hz : 100));
  uint64_t boot_real = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
  return boot_real + since_boot;
}

// A process's start, in ticks, and the clocks read at two moments: allow
// a few ticks.
constexpr uint64_t kSlackNs = 500'000'000;

// A /proc/net/tcp{,6} address ("0100007F:1F90"): the address as the kernel
// printed its 32-bit words in host order, then the port; as raw sockaddr
// bytes, the model's form.
std::string proc_net_address(const std::string& text, bool v6) {
  size_t colon = text.find(':');
  if (colon == std::string::npos || colon != (v6 ? 32u : 8u)) return "";
  uint16_t port = htons(uint16_t(std::stoul(text.substr(colon + 1), nullptr, 16)));
  if (!v6) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = port;
    a.sin_addr.s_addr = uint32_t(std::stoul(text.substr(0, 8), nullptr, 16));
    return std::string(reinterpret_cast<const char*>(&a), sizeof(a));
  }
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = port;
  for (int word = 0; word < 4; ++word) {
    uint32_t w = uint32_t(std::stoul(text.substr(size_t(word) * 8, 8), nullptr, 16));
    std::memcpy(&a.sin6_addr.s6_addr[word * 4], &w, sizeof(w));
  }
  return std::string(reinterpret_cast<const char*>(&a), sizeof(a));
}

struct KernelTcp {
  uint8_t state = 0;
  std::string local;  // raw sockaddr
};

// Every TCP socket in the network namespace of `pid`, by inode, as the
// kernel says now (/proc/PID/net/tcp and tcp6): its state and local address.
std::map<uint64_t, KernelTcp> tcp_states(int pid) {
  std::map<uint64_t, KernelTcp> states;
  for (const char* table : {"tcp", "tcp6"}) {
    std::ifstream file("/proc/" + std::to_string(pid) + "/net/" + table);
    std::string line;
    std::getline(file, line);  // the header
    while (std::getline(file, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode))
        continue;
      try {
        states[std::stoull(inode)] = {uint8_t(std::stoul(state, nullptr, 16)),
                                      proc_net_address(local, table[3] == '6')};
      } catch (const std::exception&) {
        // a line the kernel wrote in a layout this does not know: skip it
      }
    }
  }
  return states;
}

}  // namespace

uint64_t socket_inode(int pid, int fd) {
  std::error_code ec;
  std::string target = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd), ec);
  if (ec || target.rfind("socket:[", 0) != 0) return 0;
  return std::strtoull(target.c_str() + 8, nullptr, 10);
}

bool still_running(const ProcessLife& p) {
  uint64_t started = start_of_pid(p.pid);
  return started != 0 && started <= p.start_real_ns + kSlackNs;  // else gone, or a new process
}

namespace {

// What the kernel says now of the sockets a running process holds: their
// TCP state (CLOSE_WAIT: the peer is gone) and that they, its live sessions
// and the process itself last until now, the moment of the report.
void read_live_state(Model& model, int process) {
  ProcessLife& p = model.processes[size_t(process)];
  std::map<uint64_t, KernelTcp> states;
  bool read = false;
  uint64_t now = clock_ns(CLOCK_MONOTONIC);
  p.end_mono_ns = std::max(p.end_mono_ns, now);
  for (SessionLife& session : model.sessions)
    if (session.process == process && session.alive_at_end) session.end_mono_ns = now;
  for (SocketLife& s : model.sockets) {
    if (s.process != process || s.recycled || s.end != SocketEnd::kOpen) continue;
    s.end_mono_ns = now;
    if (!read) states = tcp_states(p.pid), read = true;
    int fd = s.open_fds.empty() ? s.fd : s.open_fds.front();
    auto it = states.find(socket_inode(p.pid, fd));
    if (it == states.end()) continue;
    s.tcp_state = it->second.state;
    if (s.local.empty()) s.local = it->second.local;
  }
}

}  // namespace

void mark_running_processes(Model& model) {
  for (size_t i = 0; i < model.processes.size(); ++i) {
    ProcessLife& p = model.processes[i];
    if (p.end != ProcessEnd::kUnknown || !still_running(p)) continue;
    p.end = ProcessEnd::kRunning;
    read_live_state(model, int(i));
  }
}

}  // namespace connleak
