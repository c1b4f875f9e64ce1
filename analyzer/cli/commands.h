// The `connleak` subcommands: one file each (cmd_*.cpp), sharing the report
// options and output handling below.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "analysis.h"

namespace connleak::cli {

// Exit codes of connleak's own failures, as timeout(1) and env(1) use them.
inline constexpr int kExitToolError = 125;
inline constexpr int kExitCannotRun = 126;
inline constexpr int kExitNotFound = 127;
// `connleak report` on unusable input.
inline constexpr int kExitBadInput = 2;

// The options `run` and `report` share.
struct ReportOptions {
  std::string format = "text";
  std::string report_file;  // empty: the subcommand's default stream
  std::optional<int> error_exitcode;
  bool include_inherited = false;
  std::vector<std::string> suppressions;
  bool gen_suppressions = false;
  std::string baseline;
  std::string source_root;
  int churn_threshold = 3;
  std::string idle_threshold;  // a duration; empty: the default
};

// The analysis options the report options ask for: reads suppression files
// and the baseline. Throws SuppressionError / BaselineError.
AnalysisOptions analysis_options(const ReportOptions& options);
// Renders as the options say (format, source root).
void render_report(const Report& report, const ReportOptions& options, std::ostream& out);

void add_report_options(CLI::App& command, ReportOptions& options);

// Writes the report where the options say (default_to_stderr: `run` reports
// to stderr, `report` to stdout), logs the analysis warnings, and prints the
// SUMMARY line to stderr when the report went to a file.
void emit_report(const AnalysisResult& result, const ReportOptions& options, bool default_to_stderr);

// The --error-exitcode verdict: the code when error findings exist.
std::optional<int> error_exit(const Report& report, const ReportOptions& options);

// "500ms", "10s", "1.5s", "2m", "1h", or a plain number of seconds;
// nullopt for anything else (negative, no number, an unknown unit).
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);

// Starting a traced command (tracing.cpp). Throw LaunchError.
// The shim, at its fixed place relative to this binary.
std::filesystem::path find_shim();
// `requested`, made if missing; or a fresh connleak-YYYYmmdd-HHMMSS-<pid> here.
std::filesystem::path make_output_dir(const std::string& requested);
// connleak's exit code for a command it could not start (LaunchError's message).
int launch_exit_code(const std::string& message);

struct RunOptions {
  ReportOptions report;
  std::string output_dir;
  // --max-trace-size: the shim's CONNLEAK_MAX_TRACE_SIZE ("32M", "1G", "0"
  // for unbounded); empty: the shim's default (or the environment's).
  std::string max_trace_size;
  // After COMMAND exits, how long to wait for the processes it left running;
  // nullopt: until they end (the first SIGINT/SIGTERM stops waiting).
  std::optional<std::chrono::milliseconds> descendant_timeout;
  std::vector<std::string> command;
};
int run_command(const RunOptions& options);

struct ReportCommandOptions {
  ReportOptions report;
  std::vector<std::string> traces;
};
int report_command(const ReportCommandOptions& options);

struct WatchOptions {
  std::chrono::milliseconds interval{2000};
  bool once = false;
  std::string output_dir;   // -- COMMAND: where its traces go
  bool command_mode = false;  // `watch -- COMMAND` rather than `watch DIR`
  std::vector<std::string> target;  // DIR, or COMMAND and its arguments
};
int watch(const WatchOptions& options);

}  // namespace connleak::cli
