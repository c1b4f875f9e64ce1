#pragma once

#include "model.h"

namespace connleak {

// Marks ProcessEnd::kRunning the processes without an end record that are
// still running now (same pid, started no later than their trace).
void mark_running_processes(Model& model);

}  // namespace connleak
