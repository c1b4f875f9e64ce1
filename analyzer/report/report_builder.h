// Turns the detectors' leaks into the report: symbolizes each creation
// stack, groups leaks of the same kind and stack across processes, and words
// each finding.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "detectors/detectors.h"
#include "model/model.h"
#include "report/report.h"
#include "symbols/symbolizer.h"

namespace connleak {

Report build_report(const Model& model, const std::vector<Leak>& leaks, Symbolizer& symbolizer,
                    const std::string& tool_version);

// "exit", "exec", "signal", "unknown", "running".
const char* process_end_name(ProcessEnd end);
// "ESTABLISHED", "CLOSE_WAIT", ...; "" for 0 (unknown).
std::string tcp_state_name(uint8_t state);

// Sets summary.findings/errors/warnings from the findings (again, after
// suppressions removed some).
void count_findings(Report& report);

// The symbolized frames of a recorded stack, inline frames expanded.
std::vector<Frame> symbolize_stack(const Model& model, const StackRef& ref, Symbolizer& symbolizer);

// The session `session` and where it was created, for the connections it
// holds. `symbolized` caches stacks by Model::stack_key.
SessionRef session_ref(const Model& model, int session, std::map<std::string, std::vector<Frame>>& symbolized,
                       Symbolizer& symbolizer);

}  // namespace connleak
