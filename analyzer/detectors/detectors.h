// Detectors: each looks at the lifetime model and names the objects that
// make up one kind of finding. Grouping, symbolization and wording happen
// later (report_builder), the same for every detector.
#pragma once

#include <string>
#include <vector>

#include "model.h"
#include "report.h"

namespace connleak {

// One leaked object, before grouping.
struct Leak {
  std::string kind;
  Severity severity = Severity::kError;
  StackRef stack;  // where it was created
  int socket = -1; // index into Model::sockets
};

// leaked-connection: a connected (connect/accept) socket still open when its
// process ended. leaked-socket: any other socket still open then.
std::vector<Leak> detect_leaked_sockets(const Model& model);

// Every detector, in report order.
std::vector<Leak> run_detectors(const Model& model);

}  // namespace connleak
