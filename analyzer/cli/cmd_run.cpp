// `connleak run -- COMMAND`: runs COMMAND with the shim preloaded, waits for
// it and for the processes it left running, then reports on every process it
// started.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <set>

#include "commands.h"
#include "run/launcher.h"
#include "trace/trace_reader.h"
#include "version.h"

namespace connleak::cli {
namespace {

namespace fs = std::filesystem;

std::set<std::string> trace_names_in(const fs::path& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("connleak.") && name.ends_with(".trace")) names.insert(name);
  }
  return names;
}

// A reused --output-dir may hold an earlier run's traces: they are not
// this run's processes.
void leave_out_earlier_traces(const fs::path& dir, const std::set<std::string>& earlier, AnalysisOptions& options) {
  if (earlier.empty()) return;
  spdlog::warn("{} trace(s) from an earlier run in {} are left out of this report", earlier.size(), dir.string());
  options.skip_traces = earlier;
}

// "pid 4711 (sleep), pid 4712 (worker)", the first few only.
std::string process_list(const std::vector<RunningProcess>& running) {
  constexpr size_t kNamed = 8;
  std::string out;
  for (size_t i = 0; i < running.size() && i < kNamed; ++i) {
    if (i) out += ", ";
    out += "pid " + std::to_string(running[i].pid) + " (" + running[i].name + ")";
  }
  if (running.size() > kNamed) out += ", and " + std::to_string(running.size() - kNamed) + " more";
  return out;
}

std::string processes(size_t n) { return n == 1 ? "1 process" : std::to_string(n) + " processes"; }

std::string signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGQUIT: return "SIGQUIT";
    default: return "signal " + std::to_string(sig);
  }
}

std::string duration_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

// Said once COMMAND has exited while processes it started still run.
void note_waiting(const RunOptions& options, const LaunchResult& exited, const std::vector<RunningProcess>& running) {
  std::string how = exited.signaled ? "was killed by " + signal_name(exited.signal)
                                    : "exited with status " + std::to_string(exited.exit_code);
  std::string who = "the processes it left running";
  if (!running.empty()) who = "the " + processes(running.size()) + " it left running: " + process_list(running);
  std::string bound;
  if (options.descendant_timeout) bound = "at most " + duration_text(*options.descendant_timeout) + "; ";
  spdlog::info("{} {}; waiting for {} ({}Ctrl-C stops waiting)", options.command.front(), how, who, bound);
}

// Processes still running have no end in their traces: the report judges
// them live (end "running"), so nothing they hold now counts as leaked.
void note_still_running(const LaunchResult& result, const RunOptions& options) {
  if (result.still_running.empty()) return;
  std::string why = "on " + signal_name(result.stop_signal);
  if (result.wait_end == DescendantWait::kTimeout)
    why = "after --descendant-timeout " + duration_text(options.descendant_timeout.value_or(std::chrono::milliseconds(0)));
  bool one = result.still_running.size() == 1;
  spdlog::warn("stopped waiting {} with {} still running: {}; {} findings are incomplete: {} not ended, so the "
               "sockets {} still {} are judged live, not as leaked at exit",
               why, processes(result.still_running.size()), process_list(result.still_running),
               one ? "its" : "their", one ? "it has" : "they have", one ? "it" : "they", one ? "holds" : "hold");
}

}  // namespace

int run_command(const RunOptions& options) {
  fs::path output_dir;
  std::set<std::string> earlier;
  LaunchResult result;
  AnalysisOptions prepared;
  try {
    // Bad suppressions or baseline stop the run before the command starts.
    prepared = analysis_options(options.report);
  } catch (const std::runtime_error& e) {
    spdlog::error("{}", e.what());
    return kExitToolError;
  }
  try {
    check_traceable(options.command.front());
    fs::path shim = find_shim();
    output_dir = make_output_dir(options.output_dir);
    earlier = trace_names_in(output_dir);
    LaunchOptions launch{options.command, shim.string(), output_dir.string()};
    launch.descendant_timeout = options.descendant_timeout;
    launch.max_trace_size = options.max_trace_size;
    launch.on_waiting = [&](const LaunchResult& exited, const std::vector<RunningProcess>& running) {
      note_waiting(options, exited, running);
    };
    result = launch_traced(launch);
  } catch (const LaunchError& e) {
    spdlog::error("{}", e.what());
    return launch_exit_code(e.what());
  }

  RootStatus root;
  root.pid = result.pid;
  if (result.signaled) {
    root.signal = result.signal;
  } else {
    root.exit_status = result.exit_code;
  }
  note_still_running(result, options);
  try {
    prepared.root = root;
    leave_out_earlier_traces(output_dir, earlier, prepared);
    AnalysisResult analysis = analyze_traces({output_dir.string()}, prepared);
    emit_report(analysis, options.report, /*default_to_stderr=*/true);
    spdlog::info("traces are in {}", output_dir.string());
    return error_exit(analysis.report, options.report).value_or(result.exit_code);
  } catch (const TraceError& e) {
    spdlog::error("{} (was '{}' traced at all? LD_PRELOAD may have been dropped)", e.what(),
                  options.command.front());
    return kExitToolError;
  }
}

}  // namespace connleak::cli
