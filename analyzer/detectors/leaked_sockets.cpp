#include "detectors.h"

namespace connleak {

std::vector<Leak> detect_leaked_sockets(const Model& model, const DetectorOptions& options) {
  std::vector<Leak> leaks;
  for (size_t i = 0; i < model.sockets.size(); ++i) {
    const SocketLife& s = model.sockets[i];
    if (s.end != SocketEnd::kOpen) continue;
    // Still running: what it holds now is judged live, not as leaked at exit.
    if (model.processes[size_t(s.process)].end == ProcessEnd::kRunning) continue;
    // Its parent's doing, reported there (inherited-socket), not here.
    if (s.inherited_at_start && !options.include_inherited) continue;
    // A leaked session's own machinery (libcurl's wake-up socketpair) is
    // part of the leaked-session finding; its connections stay findings of
    // their own, naming the session.
    int owner = model.root_session(s.session);
    if (owner >= 0 && model.sessions[size_t(owner)].alive_at_end && !s.connected) continue;
    Leak leak;
    leak.socket = int(i);
    leak.process = s.process;
    leak.fd = s.fd;
    if (s.connected) {
      leak.kind = "leaked-connection";
      // The line that made the connection, not the one that made the socket.
      leak.stack = s.connect_stack.id ? s.connect_stack : s.open_stack;
    } else {
      leak.kind = "leaked-socket";
      leak.stack = s.open_stack;
    }
    leaks.push_back(leak);
  }
  return leaks;
}

}  // namespace connleak
