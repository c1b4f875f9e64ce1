// Start-up of the shim: reads the settings, starts the tracker, and registers
// the process-level callbacks (fork handlers, exit handler).
#include <dlfcn.h>
#include <link.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

#include "dl_errors.h"
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

// What exec and posix_spawn put back into a scrubbed environment: the
// shim's path as the loader has it (dladdr's answer, without its symbol
// search), and the output directory made absolute, for a child that
// changes directory (no realpath: resolving its links costs a system call
// per component, and an absolute path names the same directory).
void remember_settings_for_children(const Config& config) {
  dl_find_object self{};
  if (_dl_find_object(reinterpret_cast<void*>(&tracker), &self) != 0 || !self.dlfo_link_map) return;
  const char* shim_path = self.dlfo_link_map->l_name;
  char output_dir[PATH_MAX];
  if (config.output_dir[0] == '/') {
    remember_exec_settings(shim_path, config.output_dir, config.stack_depth);
  } else if (getcwd(output_dir, sizeof(output_dir))) {
    size_t used = strlen(output_dir);
    if (strcmp(config.output_dir, ".") == 0) return remember_exec_settings(shim_path, output_dir, config.stack_depth);
    if (snprintf(output_dir + used, sizeof(output_dir) - used, "/%s", config.output_dir) >= int(sizeof(output_dir) - used)) return;
    remember_exec_settings(shim_path, output_dir, config.stack_depth);
  }
}

bool start_once() {
  int expected = kIdle;
  if (!g_state.compare_exchange_strong(expected, kStarting)) {
    return g_state.load(std::memory_order_acquire) == kStarted;
  }
  ErrnoKeeper keep;
  // libc's dlerror and dlsym, found before the program can have a dlerror()
  // message pending that finding them would clear (dl_errors.h).
  resolve_real_dl_functions();
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
  int state = g_state.load(std::memory_order_acquire);
  if (state == kIdle) return start_once() && tracker().active();
  // A fork child's first event (Tracker::waiting_child).
  return state == kStarted && tracker().waiting_child() && tracker().start_waiting_child();
}

}  // namespace connleak::shim
