// Turns the detectors' leaks into the report: symbolizes each creation
// stack, groups leaks of the same kind and stack across processes, and words
// each finding.
#pragma once

#include <string>
#include <vector>

#include "detectors/detectors.h"
#include "model.h"
#include "report.h"
#include "symbolizer.h"

namespace connleak {

Report build_report(const Model& model, const std::vector<Leak>& leaks, Symbolizer& symbolizer,
                    const std::string& tool_version);

// The symbolized frames of a recorded stack, inline frames expanded.
std::vector<Frame> symbolize_stack(const Model& model, const StackRef& ref, Symbolizer& symbolizer);

}  // namespace connleak
