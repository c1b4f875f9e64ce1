#include "fork_gate.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "clock.h"

namespace connleak::shim::fork_gate {

namespace detail {
__attribute__((tls_model("initial-exec"))) thread_local int t_depth = 0;
__attribute__((tls_model("initial-exec"))) thread_local std::atomic<int>* t_inside = nullptr;
// 1 while a fork is between its prepare handler and its parent/child handler.
std::atomic<int> g_forking{0};
}  // namespace detail

using detail::g_forking;
using detail::t_depth;
using detail::t_inside;

namespace {

// Per-thread counters, striped so that threads rarely share a cache line.
struct alignas(64) Stripe {
  std::atomic<int> inside{0};    // threads between an FdCall's start and end
  std::atomic<int> blocking{0};  // BlockingFdCalls in flight
};
constexpr int kStripes = 16;
Stripe g_stripes[kStripes];
std::atomic<int> g_next_stripe{0};
// Set by the prepare handler; read by the child in its copy of memory.
bool g_not_drained = false;
bool g_child_must_list = false;

// How long fork waits for calls to finish (a close may linger): past this,
// the child lists its fds instead.
constexpr uint64_t kDrainLimitNs = 100'000'000;

__attribute__((tls_model("initial-exec"))) thread_local int t_stripe = -1;
__attribute__((tls_model("initial-exec"))) thread_local int t_blocking = 0;

Stripe& own_stripe() {
  if (__builtin_expect(t_stripe < 0, 0)) t_stripe = g_next_stripe.fetch_add(1, std::memory_order_relaxed) % kStripes;
  return g_stripes[t_stripe];
}

// Waits while the gate is closed (a fork or a rotation).
void wait_for_gate() {
  timespec limit{0, 10'000'000};  // wake up now and then: a lost wake-up costs 10 ms, not a hang
  for (int word; (word = g_forking.load(std::memory_order_acquire)) & kGateClosed;) {
    syscall(SYS_futex, &g_forking, FUTEX_WAIT_PRIVATE, word, &limit, nullptr, 0);
  }
}

void open_gate() {
  g_forking.fetch_and(~kGateClosed, std::memory_order_release);
  syscall(SYS_futex, &g_forking, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
}

bool (*g_rotate)() = nullptr;
std::atomic<uint64_t> g_rotate_not_before{0};
// This thread runs the rotation (a fork from a signal handler then must
// not wait for the gate it holds itself).
__attribute__((tls_model("initial-exec"))) thread_local bool t_rotating = false;
// Per thread: forks of several threads take the gate in turn.
__attribute__((tls_model("initial-exec"))) thread_local bool t_fork_owns_gate = false;

int total(std::atomic<int> Stripe::*counter) {
  int sum = 0;
  for (Stripe& stripe : g_stripes) sum += (stripe.*counter).load(std::memory_order_seq_cst);
  return sum;
}

}  // namespace

// Waits until no other thread holds an FdCall (`own`: this thread's), at
// most kDrainLimitNs; true when none does.
bool drain(int own) {
  uint64_t deadline = now_ns() + kDrainLimitNs;
  while (total(&Stripe::inside) > own) {
    if (now_ns() > deadline) break;
    sched_yield();
  }
  return total(&Stripe::inside) <= own;
}

// This thread holds no FdCall: it runs the rotation the trace asked for,
// unless another thread or a fork has the gate, or the last attempt failed
// a moment ago.
void try_rotation() {
  if (!g_rotate || coarse_now_ns() < g_rotate_not_before.load(std::memory_order_relaxed)) {
    g_forking.fetch_and(~kRotationWanted, std::memory_order_relaxed);
    return;
  }
  int expected = kRotationWanted;
  if (!g_forking.compare_exchange_strong(expected, kGateClosed, std::memory_order_seq_cst)) return;
  bool done = false;
  if (drain(0)) {
    // Nested calls of a signal handler in this thread pass the gate (they
    // cannot wait for the rotation they interrupted).
    t_depth = 1;
    t_rotating = true;
    done = g_rotate();
    t_rotating = false;
    t_depth = 0;
  }
  if (!done) g_rotate_not_before.store(coarse_now_ns() + 100'000'000, std::memory_order_relaxed);
  open_gate();
}

void detail::enter_slow() {
  if (!t_inside) t_inside = &own_stripe().inside;
  bool tried = false;
  for (;;) {
    t_inside->fetch_add(1, std::memory_order_seq_cst);
    t_depth = 1;
    int word = g_forking.load(std::memory_order_seq_cst);
    if (!(word & kGateClosed) && (tried || !(word & kRotationWanted))) return;
    t_inside->fetch_sub(1, std::memory_order_release);
    t_depth = 0;
    if (word & kGateClosed) {
      wait_for_gate();
    } else {
      tried = true;  // once per call: a rotation that failed is not retried at once
      try_rotation();
    }
  }
}

void set_rotation_handler(bool (*rotate)()) { g_rotate = rotate; }

BlockingFdCall::BlockingFdCall() {
  ++t_blocking;
  own_stripe().blocking.fetch_add(1, std::memory_order_seq_cst);
}

BlockingFdCall::~BlockingFdCall() {
  own_stripe().blocking.fetch_sub(1, std::memory_order_release);
  --t_blocking;
}

void before_fork() {
  t_fork_owns_gate = false;
  if (t_rotating) {  // a fork from a signal handler inside the rotation: the gate is ours already
    g_not_drained = true;
    return;
  }
  for (int word = g_forking.load(std::memory_order_seq_cst);;) {
    if (word & kGateClosed) {
      wait_for_gate();  // a rotation: brief
      word = g_forking.load(std::memory_order_seq_cst);
    } else if (g_forking.compare_exchange_weak(word, word | kGateClosed, std::memory_order_seq_cst)) {
      break;
    }
  }
  t_fork_owns_gate = true;
  // This thread's own calls (a fork from a signal handler) cannot finish first.
  g_not_drained = !drain(t_depth > 0 ? 1 : 0);
}

void after_fork_in_parent() {
  if (t_fork_owns_gate) open_gate();
  t_fork_owns_gate = false;
}

void after_fork_in_child() {
  // The counters are the parent's at the fork; of their threads only this
  // one lives on here.
  g_child_must_list = g_not_drained || total(&Stripe::blocking) > t_blocking;
  for (Stripe& stripe : g_stripes) {
    stripe.inside.store(0, std::memory_order_relaxed);
    stripe.blocking.store(0, std::memory_order_relaxed);
  }
  if (t_stripe >= 0) {
    g_stripes[t_stripe].inside.store(t_depth > 0 ? 1 : 0, std::memory_order_relaxed);
    g_stripes[t_stripe].blocking.store(t_blocking, std::memory_order_relaxed);
  }
  g_not_drained = false;
  t_fork_owns_gate = false;
  t_rotating = false;
  g_forking.store(0, std::memory_order_release);
}

bool child_must_list_fds() { return g_child_must_list; }

}  // namespace connleak::shim::fork_gate
