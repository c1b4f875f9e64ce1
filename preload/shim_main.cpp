// Start-up of the shim: reads the settings, starts the tracker, and registers
// the process-level callbacks (fork handlers, exit handler).
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

#include <atomic>

#include "exec_env.h"
#include "hook_support.h"

namespace connleak::shim {
namespace {

enum State { kIdle, kStarting, kStarted, kOff };
std::atomic<int> g_state{kIdle};

void prepare_fork() { tracker().before_fork(); }
void parent_after_fork() { tracker().after_fork_in_parent(); }
void child_after_fork() {
  if (tracker().active()) tracker().after_fork_in_child();
}

// on_exit() hands us the exit status; registered first, it runs after every
// other exit handler and library destructor, so their closes are seen.
void exit_handler(int status, void*) { tracker().on_exit(status, trace::EndVia::kExit); }

// What exec and posix_spawn put back into a scrubbed environment.
void remember_settings_for_children(const Config& config) {
  Dl_info self{};
  char output_dir[PATH_MAX];
  if (!dladdr(reinterpret_cast<void*>(&tracker), &self) || !self.dli_fname) return;
  if (!realpath(config.output_dir, output_dir)) return;
  remember_exec_settings(self.dli_fname, output_dir, config.stack_depth);
}

bool start_once() {
  int expected = kIdle;
  if (!g_state.compare_exchange_strong(expected, kStarting)) {
    return g_state.load(std::memory_order_acquire) == kStarted;
  }
  ErrnoKeeper keep;
  Config config = read_config();
  bool started = tracker().start(config);
  if (started) {
    remember_settings_for_children(config);
    // Registered once: a fork child inherits both registrations.
    pthread_atfork(prepare_fork, parent_after_fork, child_after_fork);
    ::on_exit(exit_handler, nullptr);
  }
  g_state.store(started ? kStarted : kOff, std::memory_order_release);
  return started;
}

__attribute__((constructor)) void connleak_constructor() { start_once(); }

}  // namespace

bool start_tracing() {
  return g_state.load(std::memory_order_acquire) == kIdle && start_once() && tracker().active();
}

}  // namespace connleak::shim
