// The analyzer's pipeline as one call: read traces, rebuild lifetimes, run
// the detectors, symbolize and group. The CLI subcommands are thin wrappers
// around this.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "report/baseline.h"
#include "detectors/detectors.h"
#include "report/report.h"
#include "report/suppressions.h"

namespace connleak {

// What `connleak run` knows about the command it started, which no trace can
// say (the trace of a killed process just stops).
struct RootStatus {
  int pid = 0;
  std::optional<int> exit_status;
  std::optional<int> signal;
};

struct AnalysisResult {
  Report report;
  std::vector<std::string> warnings;  // for the log: missing parent traces, symbolizer issues
};

struct AnalysisOptions {
  std::optional<RootStatus> root;
  DetectorOptions detectors;
  std::vector<SuppressionRule> suppressions;
  std::optional<std::vector<FixedFinding>> baseline;
  // --gen-suppressions: give each (unsuppressed) finding the rule that
  // would suppress it (Finding::generated_suppression).
  bool gen_suppressions = false;
  // Build Report::timeline (the html and chrome-trace formats): keeps every
  // closed socket in memory while the traces are read.
  bool timeline = false;
  // Trace file names (no directory) found in input directories but not to be
  // read: an earlier run's, in a reused output directory.
  std::set<std::string> skip_traces;
};

// Throws TraceError for missing, unreadable, truncated or corrupt traces.
AnalysisResult analyze_traces(const std::vector<std::string>& inputs, const AnalysisOptions& options = {});

// The formats `--format` accepts.
const std::vector<std::string>& report_formats();
struct RenderSettings {
  std::string source_root;  // absolute; SARIF paths are relative to it
};
// Formats drawn from Report::timeline (AnalysisOptions::timeline).
bool needs_timeline(const std::string& format);
// Renders in the named format (one of report_formats()).
void render(const Report& report, const std::string& format, const RenderSettings& settings, std::ostream& out);

// Error findings that count toward --error-exitcode: unsuppressed, and new
// when there is a baseline.
size_t counted_errors(const Report& report);

std::string tool_version();

}  // namespace connleak
