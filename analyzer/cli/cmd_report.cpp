// `connleak report TRACE...`: a report on traces recorded earlier.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "trace_reader.h"

namespace connleak::cli {

int report_command(const ReportCommandOptions& options) {
  try {
    AnalysisOptions analysis;
    analysis.detectors.include_inherited = options.report.include_inherited;
    AnalysisResult result = analyze_traces(options.traces, analysis);
    emit_report(result, options.report, /*default_to_stderr=*/false);
    return error_exit(result.report, options.report).value_or(0);
  } catch (const TraceError& e) {
    spdlog::error("{}", e.what());
    return kExitBadInput;
  }
}

}  // namespace connleak::cli
