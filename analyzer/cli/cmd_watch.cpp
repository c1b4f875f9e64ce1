// `connleak watch DIR` and `connleak watch -- COMMAND`: a live view of the
// sockets and sessions per creation site, refreshed like top, from the
// traces as they grow (LiveTraces reads only what was appended).
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>

#include "commands.h"
#include "run/launcher.h"
#include "model/live_traces.h"
#include "trace/trace_reader.h"
#include "render/watch_view.h"

namespace connleak::cli {
namespace {

namespace fs = std::filesystem;

std::atomic<bool> interrupted{false};

void on_interrupt(int) { interrupted.store(true); }

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

// Rows that fit the terminal, below the two header lines.
size_t terminal_rows() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 4) return size.ws_row - 4;
  return 20;
}

class Watcher {
 public:
  Watcher(const WatchOptions& options, std::string dir)
      : options_(options), live_(dir), source_(std::move(dir)), terminal_(isatty(STDOUT_FILENO) == 1) {}

  void show() {
    live_.refresh();
    for (const std::string& warning : live_.take_warnings()) spdlog::warn("{}", warning);
    WatchSnapshot snapshot = take_snapshot(live_, namer_, monotonic_ns());
    render_watch(snapshot, source_, terminal_, terminal_rows(), std::cout);
  }

  // Sleeps one interval in short steps; false when `stop` says so first.
  template <class Stop>
  bool pause(Stop stop) {
    for (auto slept = std::chrono::milliseconds(0); slept < options_.interval; slept += kStep) {
      if (stop()) return false;
      std::this_thread::sleep_for(std::min(kStep, options_.interval - slept));
    }
    return !stop();
  }

 private:
  static constexpr std::chrono::milliseconds kStep{50};
  const WatchOptions& options_;
  LiveTraces live_;
  SiteNamer namer_;
  std::string source_;
  bool terminal_;
};

int watch_directory(const WatchOptions& options) {
  const std::string& dir = options.target.front();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    spdlog::error("{}: {}", dir, fs::exists(dir, ec) ? "not a directory of traces" : "no such directory");
    return kExitBadInput;
  }
  Watcher watcher(options, dir);
  struct sigaction action{}, saved_int{}, saved_term{};
  action.sa_handler = on_interrupt;
  sigaction(SIGINT, &action, &saved_int);
  sigaction(SIGTERM, &action, &saved_term);
  auto stop = [] { return interrupted.load(); };
  try {
    if (options.once) watcher.pause(stop);
    do watcher.show();
    while (!options.once && watcher.pause(stop));
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kExitBadInput;
  }
  sigaction(SIGINT, &saved_int, nullptr);
  sigaction(SIGTERM, &saved_term, nullptr);
  return 0;
}

int watch_command(const WatchOptions& options) {
  fs::path output_dir;
  LaunchOptions launch;
  try {
    check_traceable(options.target.front());
    launch.shim_path = find_shim().string();
    output_dir = make_output_dir(options.output_dir);
  } catch (const LaunchError& e) {
    spdlog::error("{}", e.what());
    return launch_exit_code(e.what());
  }
  launch.argv = options.target;
  launch.output_dir = output_dir.string();
  std::atomic<bool> done{false};
  LaunchResult result;
  std::string failure;
  std::thread command([&] {
    try {
      result = launch_traced(launch);
    } catch (const LaunchError& e) {
      failure = e.what();
    }
    done.store(true);
  });
  Watcher watcher(options, output_dir.string());
  auto stop = [&] { return done.load(); };
  try {
    // --once: one view after one interval (or at the end, if sooner); the
    // command then runs on, untouched, to its end.
    bool shown = false;
    while (watcher.pause(stop) && !(options.once && shown)) watcher.show(), shown = true;
    command.join();
    if (!options.once || !shown) watcher.show();
  } catch (const std::exception& e) {
    if (command.joinable()) command.join();
    spdlog::error("{}", e.what());
    return kExitToolError;
  }
  if (!failure.empty()) {
    spdlog::error("{}", failure);
    return launch_exit_code(failure);
  }
  spdlog::info("traces are in {}; `connleak report {}` gives the full report", output_dir.string(),
               output_dir.string());
  return result.exit_code;
}

}  // namespace

int watch(const WatchOptions& options) {
  return options.command_mode ? watch_command(options) : watch_directory(options);
}

}  // namespace connleak::cli
