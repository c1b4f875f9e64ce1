// Interposed calls that let code of the program's run beside its main line:
// threads and signal handlers. Before the first of either, libunwind is
// loaded (stack_table.h): after it, a stack first needed in a handler that
// interrupted malloc, or in a thread while another holds a lock of the
// program's, could not load it safely. Each call then goes to libc
// unchanged. Thread creation is also noted for fork children
// (loaded_objects.h).
//
// Every libc entry point that installs a handler is here (sigvec exists
// only for binaries linked against glibc before 2.21); a handler installed
// with a raw rt_sigaction system call is not seen, and a first stack in it
// loads libunwind in the handler (a known limit).
#include <signal.h>
#include <threads.h>

#include <atomic>

#include "hook_support.h"
#include "loaded_objects.h"
#include "user_memory.h"

using namespace connleak::shim;

namespace {

// A fork child waiting for its first event (Tracker::waiting_child) loads
// libunwind without making its trace.
void prepare_stacks() {
  if (!tracker().waiting_child() && !tracing()) return;
  ErrnoKeeper keep;
  tracker().prepare_stacks();
}

// The first installer call finds them all: a handler may call another one
// (signal(sig, SIG_DFL) in a SIGSEGV handler installed with sigaction),
// whose first-call look-up (dlsym, which may allocate) must not run there.
std::atomic<bool> g_installers_found{false};

void find_installers() {
  if (g_installers_found.load(std::memory_order_acquire)) return;
  ErrnoKeeper keep;
  real::sigaction();
  real::__sigaction();
  real::signal();
  real::bsd_signal();
  real::ssignal();
  real::sysv_signal();
  real::__sysv_signal();
  real::sigset();
  g_installers_found.store(true, std::memory_order_release);
}

bool is_function(__sighandler_t handler) {
  return handler != SIG_DFL && handler != SIG_IGN && handler != SIG_ERR && handler != SIG_HOLD;
}

void before_handler(__sighandler_t handler) {
  find_installers();
  if (!tracker().stacks_prepared() && is_function(handler)) prepare_stacks();
}

// An action the kernel would reject with EFAULT is not read here.
void before_action(const struct sigaction* action) {
  find_installers();
  if (!action || tracker().stacks_prepared()) return;
  if (readable(action, sizeof(action->sa_handler)) && is_function(action->sa_handler)) prepare_stacks();
}

// A waiting fork child makes its trace before a second thread could race
// it there.
void before_thread() {
  if (tracker().waiting_child()) tracing();
  if (!tracker().stacks_prepared()) prepare_stacks();
  note_thread_created();
}

}  // namespace

CONNLEAK_EXPORT int pthread_create(pthread_t* thread, const pthread_attr_t* attributes, void* (*start)(void*),
                                   void* argument) {
  before_thread();
  return real::pthread_create()(thread, attributes, start, argument);
}

// glibc's thrd_create reaches pthread_create inside libc, unseen.
CONNLEAK_EXPORT int thrd_create(thrd_t* thread, thrd_start_t start, void* argument) {
  before_thread();
  return real::thrd_create()(thread, start, argument);
}

// sigaction and libc's other name for it.
#define CONNLEAK_ACTION_INSTALLER(name)                                                    \
  CONNLEAK_EXPORT int name(int number, const struct sigaction* action, struct sigaction* old) { \
    before_action(action);                                                                 \
    return real::name()(number, action, old);                                              \
  }
CONNLEAK_ACTION_INSTALLER(sigaction)
CONNLEAK_ACTION_INSTALLER(__sigaction)

// signal and the others of its shape (BSD, System V and SVID semantics).
#define CONNLEAK_HANDLER_INSTALLER(name)                                  \
  CONNLEAK_EXPORT __sighandler_t name(int number, __sighandler_t handler) { \
    before_handler(handler);                                              \
    return real::name()(number, handler);                                 \
  }
CONNLEAK_HANDLER_INSTALLER(signal)
CONNLEAK_HANDLER_INSTALLER(bsd_signal)
CONNLEAK_HANDLER_INSTALLER(ssignal)
CONNLEAK_HANDLER_INSTALLER(sysv_signal)
CONNLEAK_HANDLER_INSTALLER(__sysv_signal)
CONNLEAK_HANDLER_INSTALLER(sigset)
