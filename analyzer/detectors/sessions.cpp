#include <map>

#include "detectors.h"

namespace connleak {

std::vector<Leak> detect_leaked_sessions(const Model& model) {
  std::vector<Leak> leaks;
  for (size_t i = 0; i < model.sessions.size(); ++i) {
    const SessionLife& s = model.sessions[i];
    // Objects a library made inside its own calls are its business; a
    // session copied by fork leaked only where its last copy ended.
    if (!s.alive_at_end || s.parent >= 0 || s.held_elsewhere) continue;
    if (model.processes[size_t(s.process)].end == ProcessEnd::kRunning) continue;  // judged live
    Leak leak;
    leak.kind = "leaked-session";
    leak.stack = s.stack;
    leak.process = s.process;
    leak.session = int(i);
    leaks.push_back(leak);
  }
  return leaks;
}

std::vector<Leak> detect_session_churn(const Model& model, const DetectorOptions& options) {
  std::map<std::string, std::vector<int>> single_use_by_site;
  for (size_t i = 0; i < model.sessions.size(); ++i) {
    const SessionLife& s = model.sessions[i];
    // Churn costs connections: a session whose one transfer reused a
    // connection (a share handle's, a multi handle's pool) cost none.
    if (s.parent < 0 && !s.inherited && s.completed_transfers == 1 && s.connections_opened > 0)
      single_use_by_site[model.stack_key(s.stack)].push_back(int(i));
  }
  std::vector<Leak> leaks;
  for (const auto& [site, sessions] : single_use_by_site) {
    if (sessions.size() < size_t(options.churn_threshold)) continue;
    for (int index : sessions) {
      const SessionLife& s = model.sessions[size_t(index)];
      Leak leak;
      leak.kind = "session-churn";
      leak.severity = Severity::kWarning;
      leak.stack = s.stack;
      leak.process = s.process;
      leak.session = index;
      leaks.push_back(leak);
    }
  }
  return leaks;
}

}  // namespace connleak
