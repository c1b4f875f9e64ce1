#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>

#include "commands.h"
#include "trace_reader.h"

namespace connleak::cli {

void add_report_options(CLI::App& command, ReportOptions& options) {
  command.add_option("--format", options.format, "Report format")
      ->check(CLI::IsMember(report_formats()))
      ->default_val("text");
  command.add_option("--report", options.report_file, "Write the report to FILE")->type_name("FILE");
  command.add_option("--error-exitcode", options.error_exitcode,
                     "Exit with N when findings of error severity exist")
      ->type_name("N")
      ->check(CLI::Range(0, 255));
  command.add_flag("--include-inherited", options.include_inherited,
                   "Also report sockets a program inherited at its start and never closed");
}

void emit_report(const AnalysisResult& result, const ReportOptions& options, bool default_to_stderr) {
  for (const auto& warning : result.warnings) spdlog::warn("{}", warning);
  if (options.report_file.empty()) {
    std::ostream& out = default_to_stderr ? std::cerr : std::cout;
    render(result.report, options.format, out);
    out.flush();
    return;
  }
  std::ofstream file(options.report_file, std::ios::trunc);
  if (file) render(result.report, options.format, file);
  file.flush();
  if (!file) throw TraceError(options.report_file + ": cannot write the report");
  // A CI log always shows the verdict, wherever the report went.
  std::cerr << summary_line(result.report) << "\n";
}

std::optional<int> error_exit(const Report& report, const ReportOptions& options) {
  if (options.error_exitcode && report.summary.errors > 0) return options.error_exitcode;
  return std::nullopt;
}

}  // namespace connleak::cli
