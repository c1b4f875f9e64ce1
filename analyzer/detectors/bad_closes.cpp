#include "detectors.h"

namespace connleak {

std::vector<Leak> detect_bad_closes(const Model& model) {
  std::vector<Leak> leaks;
  for (const auto& bad : model.bad_closes) {
    Leak leak;
    leak.kind = "bad-close";
    leak.severity = Severity::kWarning;
    leak.stack = bad.stack;
    leak.socket = bad.previous_socket;
    leak.process = bad.process;
    leak.fd = bad.fd;
    leaks.push_back(leak);
  }
  return leaks;
}

}  // namespace connleak
