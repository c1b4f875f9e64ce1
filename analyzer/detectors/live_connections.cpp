#include "detectors.h"

namespace connleak {
namespace {

constexpr uint8_t kTcpCloseWait = 8;  // TCP_CLOSE_WAIT

}  // namespace

std::vector<Leak> detect_live_connections(const Model& model, const DetectorOptions& options) {
  std::vector<Leak> leaks;
  for (size_t i = 0; i < model.sockets.size(); ++i) {
    const SocketLife& s = model.sockets[i];
    if (s.recycled || s.end != SocketEnd::kOpen || !s.connected) continue;
    if (model.processes[size_t(s.process)].end != ProcessEnd::kRunning) continue;
    if (s.inherited_at_start && !options.include_inherited) continue;
    // end_mono_ns of a running process's socket is the time of the report.
    uint64_t last_active = std::max(s.last_io_mono_ns, s.opened_mono_ns);
    Leak leak;
    if (s.tcp_state == kTcpCloseWait) {
      leak.kind = "dead-connection";
    } else if (s.end_mono_ns > last_active && s.end_mono_ns - last_active > options.idle_threshold_ns) {
      leak.kind = "stale-connection";
      leak.severity = Severity::kWarning;
    } else {
      continue;
    }
    leak.socket = int(i);
    leak.process = s.process;
    leak.fd = s.fd;
    leak.stack = s.connect_stack.id ? s.connect_stack : s.open_stack;
    leaks.push_back(leak);
  }
  return leaks;
}

}  // namespace connleak
