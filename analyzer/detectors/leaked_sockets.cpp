#include "detectors.h"

namespace connleak {

std::vector<Leak> detect_leaked_sockets(const Model& model) {
  std::vector<Leak> leaks;
  for (size_t i = 0; i < model.sockets.size(); ++i) {
    const SocketLife& s = model.sockets[i];
    if (s.end != SocketEnd::kOpen) continue;
    Leak leak;
    leak.socket = int(i);
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

std::vector<Leak> run_detectors(const Model& model) { return detect_leaked_sockets(model); }

}  // namespace connleak
