// `connleak report TRACE...`: a report on traces recorded earlier.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "trace/trace_reader.h"

namespace connleak::cli {

int report_command(const ReportCommandOptions& options) {
  try {
    AnalysisResult result = analyze_traces(options.traces, analysis_options(options.report));
    emit_report(result, options.report, /*default_to_stderr=*/false);
    return error_exit(result.report, options.report).value_or(0);
  } catch (const std::runtime_error& e) {  // TraceError, SuppressionError, BaselineError
    spdlog::error("{}", e.what());
    return kExitBadInput;
  }
}

}  // namespace connleak::cli
