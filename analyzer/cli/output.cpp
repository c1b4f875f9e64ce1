#include <algorithm>
#include <spdlog/spdlog.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "trace/trace_reader.h"

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
  command.add_option("--suppressions", options.suppressions, "Suppressions file (KIND:PATTERN lines); repeatable")
      ->type_name("FILE")
      ->allow_extra_args(false);
  command.add_flag("--gen-suppressions", options.gen_suppressions,
                   "Print, for each finding, the suppression rule that would silence it");
  command.add_option("--baseline", options.baseline,
                     "A previous JSON report: only findings not in it count toward --error-exitcode")
      ->type_name("OLD.json");
  command.add_option("--source-root", options.source_root,
                     "SARIF: make source paths relative to DIR (default: the current directory)")
      ->type_name("DIR");
  command.add_option("--churn-threshold", options.churn_threshold,
                     "session-churn: this many single-transfer sessions from one call site (default 3)")
      ->type_name("N")
      ->check(CLI::Range(2, 1000000));
  command.add_option("--idle-threshold", options.idle_threshold,
                     "Running processes: report connections idle for longer than this (default 30s)")
      ->type_name("DURATION")
      ->check([](const std::string& text) {
        return parse_duration(text) ? std::string()
                                    : "expected a duration such as 500ms, 10s or 2m, not '" + text + "'";
      });
}

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  // strtod would also take "inf", "nan" and hexadecimal.
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.') ||
      text.find_first_of("xX") != std::string::npos)
    return std::nullopt;
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  std::string unit(end);
  double ms_per_unit = 0;
  if (unit.empty() || unit == "s") {
    ms_per_unit = 1000;
  } else if (unit == "ms") {
    ms_per_unit = 1;
  } else if (unit == "m" || unit == "min") {
    ms_per_unit = 60'000;
  } else if (unit == "h") {
    ms_per_unit = 3'600'000;
  } else {
    return std::nullopt;
  }
  double ms = value * ms_per_unit;
  // A week is past any useful wait; larger numbers would overflow.
  if (!std::isfinite(ms) || ms < 0 || ms > 7 * 24 * 3'600'000.0) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms)));
}

AnalysisOptions analysis_options(const ReportOptions& options) {
  AnalysisOptions analysis;
  analysis.detectors.include_inherited = options.include_inherited;
  analysis.detectors.churn_threshold = options.churn_threshold;
  if (!options.idle_threshold.empty())
    analysis.detectors.idle_threshold_ns = uint64_t(parse_duration(options.idle_threshold)->count()) * 1'000'000;
  analysis.suppressions = load_suppressions(options.suppressions);
  analysis.gen_suppressions = options.gen_suppressions;
  analysis.timeline = needs_timeline(options.format);
  if (!options.baseline.empty()) analysis.baseline = load_baseline(options.baseline);
  return analysis;
}

void render_report(const Report& report, const ReportOptions& options, std::ostream& out) {
  RenderSettings settings;
  std::error_code ec;
  settings.source_root = std::filesystem::absolute(options.source_root.empty() ? "." : options.source_root, ec)
                             .lexically_normal()
                             .string();
  render(report, options.format, settings, out);
}

namespace {

// The text and JSON reports carry the generated rules; the other formats
// have no place for them. The rules also go to stderr when the report goes
// to a file, so that the terminal or CI log shows them, as it shows the
// SUMMARY line.
void print_generated_suppressions(const Report& report, const ReportOptions& options) {
  if (!options.gen_suppressions) return;
  bool in_report = options.format == "text" || options.format == "json";
  if (in_report && options.report_file.empty()) return;
  std::cerr << suppressions_file_text(report);
}

}  // namespace

void emit_report(const AnalysisResult& result, const ReportOptions& options, bool default_to_stderr) {
  for (const auto& warning : result.warnings) spdlog::warn("{}", warning);
  if (options.report_file.empty()) {
    std::ostream& out = default_to_stderr ? std::cerr : std::cout;
    render_report(result.report, options, out);
    out.flush();
    print_generated_suppressions(result.report, options);
    return;
  }
  std::ofstream file(options.report_file, std::ios::trunc);
  if (file) render_report(result.report, options, file);
  file.flush();
  if (!file) throw TraceError(options.report_file + ": cannot write the report");
  print_generated_suppressions(result.report, options);
  // A CI log always shows the verdict, wherever the report went.
  std::cerr << summary_line(result.report) << "\n";
}

// An incomplete report (events the shim could not record) cannot pass CI.
std::optional<int> error_exit(const Report& report, const ReportOptions& options) {
  bool lost = std::any_of(report.processes.begin(), report.processes.end(),
                          [](const ProcessSummary& proc) { return is_incomplete(proc); });
  if (options.error_exitcode && (counted_errors(report) > 0 || lost)) return options.error_exitcode;
  return std::nullopt;
}

}  // namespace connleak::cli
