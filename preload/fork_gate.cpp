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

void wait_for_fork() {
  timespec limit{0, 10'000'000};  // wake up now and then: a lost wake-up costs 10 ms, not a hang
  while (g_forking.load(std::memory_order_acquire)) {
    syscall(SYS_futex, &g_forking, FUTEX_WAIT_PRIVATE, 1, &limit, nullptr, 0);
  }
}

int total(std::atomic<int> Stripe::*counter) {
  int sum = 0;
  for (Stripe& stripe : g_stripes) sum += (stripe.*counter).load(std::memory_order_seq_cst);
  return sum;
}

}  // namespace

void detail::enter_slow() {
  if (!t_inside) t_inside = &own_stripe().inside;
  for (;;) {
    t_inside->fetch_add(1, std::memory_order_seq_cst);
    t_depth = 1;
    if (!g_forking.load(std::memory_order_seq_cst)) return;
    t_inside->fetch_sub(1, std::memory_order_release);
    t_depth = 0;
    wait_for_fork();
  }
}

BlockingFdCall::BlockingFdCall() {
  ++t_blocking;
  own_stripe().blocking.fetch_add(1, std::memory_order_seq_cst);
}

BlockingFdCall::~BlockingFdCall() {
  own_stripe().blocking.fetch_sub(1, std::memory_order_release);
  --t_blocking;
}

void before_fork() {
  g_forking.store(1, std::memory_order_seq_cst);
  // This thread's own calls (a fork from a signal handler) cannot finish first.
  int own = t_depth > 0 ? 1 : 0;
  uint64_t deadline = now_ns() + kDrainLimitNs;
  while (total(&Stripe::inside) > own) {
    if (now_ns() > deadline) break;
    sched_yield();
  }
  g_not_drained = total(&Stripe::inside) > own;
}

void after_fork_in_parent() {
  g_forking.store(0, std::memory_order_release);
  syscall(SYS_futex, &g_forking, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
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
  g_forking.store(0, std::memory_order_release);
}

bool child_must_list_fds() { return g_child_must_list; }

}  // namespace connleak::shim::fork_gate
