#include "detectors.h"

namespace connleak {

std::vector<Leak> detect_inherited_sockets(const Model& model) {
  std::vector<Leak> leaks;
  for (const auto& handover : model.handovers) {
    const SocketLife& from = model.sockets[size_t(handover.from_socket)];
    const SocketLife& to = model.sockets[size_t(handover.to_socket)];
    Leak leak;
    leak.kind = "inherited-socket";
    leak.severity = Severity::kWarning;
    // Where the old image made it: that is where close-on-exec was missing.
    leak.stack = from.connect_stack.id ? from.connect_stack : from.open_stack;
    leak.socket = handover.to_socket;
    leak.process = to.process;
    leak.fd = to.fd;
    leaks.push_back(leak);
  }
  return leaks;
}

}  // namespace connleak
