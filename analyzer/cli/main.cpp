// connleak: finds connections and sockets a program never closed.
//   connleak run [OPTIONS] -- COMMAND [ARGS...]
//   connleak report [OPTIONS] TRACE...
//   connleak watch [OPTIONS] (TRACE_DIR | -- COMMAND [ARGS...])
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"
#include "run/launcher.h"

namespace {

void setup_logging() {
  auto logger = spdlog::stderr_logger_st("connleak");
  logger->set_pattern("connleak: %l: %v");
  spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace connleak::cli;
  setup_logging();
  CLI::App app{"connleak: finds network connections and sockets a program never closed"};
  app.set_version_flag("--version", "connleak " + connleak::tool_version());
  app.require_subcommand(1);

  RunOptions run;
  CLI::App* run_cmd = app.add_subcommand("run", "Trace COMMAND and every process it starts, then report");
  add_report_options(*run_cmd, run.report);
  run_cmd->add_option("--output-dir", run.output_dir, "Where traces go (default: a fresh directory here)")
      ->type_name("DIR");
  run_cmd
      ->add_option("--max-trace-size", run.max_trace_size,
                   "The most disk one process image's trace may take (e.g. 32M, 1G; 0: unbounded; default "
                   "32M): past it, closed history is summarized, open sockets and sessions are kept")
      ->type_name("SIZE")
      ->check([](const std::string& text) {
        return connleak::parse_size(text) ? std::string() : "not a size like 32M, 1G or 0: " + text;
      });
  std::string descendant_timeout;
  run_cmd
      ->add_option("--descendant-timeout", descendant_timeout,
                   "After COMMAND exits, wait at most this long for the processes it left running "
                   "(default: until they end; Ctrl-C stops waiting)")
      ->type_name("DURATION")
      ->check([](const std::string& text) {
        return parse_duration(text) ? std::string()
                                    : "expected a duration such as 500ms, 10s or 2m, not '" + text + "'";
      });
  run_cmd->add_option("command", run.command, "The command to trace, after --")->required();
  run_cmd->positionals_at_end();

  ReportCommandOptions report;
  CLI::App* report_cmd = app.add_subcommand("report", "Report on recorded traces (files or directories)");
  add_report_options(*report_cmd, report.report);
  report_cmd->add_option("traces", report.traces, "Trace files or directories")->required();

  WatchOptions watch_options;
  CLI::App* watch_cmd = app.add_subcommand(
      "watch", "Live view of a running program's sockets and sessions per creation site, refreshed like top");
  std::string interval = "2s";
  watch_cmd->add_option("--interval", interval, "Time between two views (default 2s)")
      ->type_name("DURATION")
      ->check([](const std::string& text) {
        auto d = parse_duration(text);
        return d && d->count() > 0 ? std::string() : "expected a duration such as 500ms, 2s or 1m, not '" + text + "'";
      });
  watch_cmd->add_flag("--once", watch_options.once, "Show one view after one interval and stop (for scripts)");
  watch_cmd->add_option("--output-dir", watch_options.output_dir, "With -- COMMAND: where traces go")
      ->type_name("DIR");
  watch_cmd->add_option("target", watch_options.target, "A trace directory, or -- COMMAND [ARGS...]")->required();
  watch_cmd->positionals_at_end();
  // `watch -- COMMAND` and `watch DIR` differ only in the "--".
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") watch_options.command_mode = true;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitBadInput;
  }
  if (run_cmd->parsed()) {
    if (!descendant_timeout.empty()) run.descendant_timeout = parse_duration(descendant_timeout);
    return run_command(run);
  }
  if (watch_cmd->parsed()) {
    watch_options.interval = *parse_duration(interval);
    if (!watch_options.command_mode && watch_options.target.size() != 1) {
      std::cerr << "connleak watch: expected one trace directory, or -- COMMAND [ARGS...]\n";
      return kExitBadInput;
    }
    return watch(watch_options);
  }
  return report_command(report);
}
