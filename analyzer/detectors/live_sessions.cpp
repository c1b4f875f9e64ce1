#include <algorithm>

#include "detectors.h"

namespace connleak {
namespace {

bool holds_connections(const Model& model, int session) {
  return std::any_of(model.sockets.begin(), model.sockets.end(), [&](const SocketLife& s) {
    return !s.recycled && s.end == SocketEnd::kOpen && s.connected && model.root_session(s.session) == session;
  });
}

}  // namespace

std::vector<Leak> detect_stale_sessions(const Model& model, const DetectorOptions& options) {
  std::vector<Leak> leaks;
  for (size_t i = 0; i < model.sessions.size(); ++i) {
    const SessionLife& s = model.sessions[i];
    if (!s.alive_at_end || s.parent >= 0 || s.held_elsewhere) continue;
    if (model.processes[size_t(s.process)].end != ProcessEnd::kRunning) continue;
    // end_mono_ns of a running process's live session is the time of the report.
    uint64_t last_active = std::max(s.last_transfer_mono_ns, s.created_mono_ns);
    if (s.end_mono_ns <= last_active || s.end_mono_ns - last_active <= options.idle_threshold_ns) continue;
    if (!holds_connections(model, int(i))) continue;
    Leak leak;
    leak.kind = "stale-session";
    leak.severity = Severity::kWarning;
    leak.stack = s.stack;
    leak.process = s.process;
    leak.session = int(i);
    leaks.push_back(leak);
  }
  return leaks;
}

}  // namespace connleak
