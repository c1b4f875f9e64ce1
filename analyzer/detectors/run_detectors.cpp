#include "detectors.h"

namespace connleak {

std::vector<Leak> run_detectors(const Model& model, const DetectorOptions& options) {
  std::vector<Leak> leaks = detect_leaked_sessions(model);
  for (auto more : {detect_leaked_sockets(model, options), detect_session_churn(model, options),
                    detect_live_connections(model, options), detect_stale_sessions(model, options),
                    detect_connection_growth(model), detect_inherited_sockets(model),
                    detect_bad_closes(model)}) {
    leaks.insert(leaks.end(), more.begin(), more.end());
  }
  return leaks;
}

}  // namespace connleak
