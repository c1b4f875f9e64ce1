// Keeps fork() and the fd calls of other threads apart, so the Fork record's
// place in the trace is exactly the child's start: every socket, close or
// dup the child inherited the effect of is recorded before it, every other
// one after it.
//
// A call that changes the fd table holds an FdCall from before its system
// call until its record is reserved; fork's prepare handler waits until no
// thread holds one (new ones wait for the fork). Calls that may block in
// the kernel (accept, recvmsg) cannot be held back: they are counted while
// in flight (BlockingFdCall), and a child forked while one was lists the
// fds it really holds (trace::ForkFds). So does a child whose fork could
// not wait long enough (a close lingering on SO_LINGER).
//
// Cost: two uncontended atomic adds per call (striped per thread), no lock.
//
// The same gate serves the rotation of a bounded trace: a checkpoint must
// see the fd table, the session table and the records they point to as of
// one moment. The writer asks for a rotation (request_rotation: a bit in
// the word every FdCall reads anyway, so the fast path is unchanged); the
// next FdCall to start, holding nothing yet, closes the gate, waits like a
// fork for the calls in flight, and runs the rotation handler.
#pragma once

#include <atomic>

namespace connleak::shim::fork_gate {

namespace detail {
// FdCalls this thread holds (a signal handler's call nests in the one it
// interrupted and must not wait for a fork that waits for that one).
extern __attribute__((tls_model("initial-exec"))) thread_local int t_depth;
// This thread's counter of calls in progress (one of a few stripes); null
// until its first call.
extern __attribute__((tls_model("initial-exec"))) thread_local std::atomic<int>* t_inside;
// kGateClosed while a fork is between its handlers or a rotation runs;
// kRotationWanted when the trace asked for one.
extern std::atomic<int> g_forking;
inline constexpr int kGateClosed = 1;
inline constexpr int kRotationWanted = 2;
void enter_slow();
}  // namespace detail

// Between the system call and its record, for calls that change fds. Inline:
// every socket() and close() of a socket takes one.
class FdCall {
 public:
  FdCall() {
    using namespace detail;
    if (t_depth > 0) {
      ++t_depth;
      return;
    }
    if (std::atomic<int>* inside = t_inside; __builtin_expect(inside != nullptr, 1)) {
      inside->fetch_add(1, std::memory_order_seq_cst);
      t_depth = 1;
      if (__builtin_expect(!g_forking.load(std::memory_order_seq_cst), 1)) return;
      inside->fetch_sub(1, std::memory_order_release);
      t_depth = 0;
    }
    enter_slow();
  }
  ~FdCall() {
    if (--detail::t_depth == 0) detail::t_inside->fetch_sub(1, std::memory_order_release);
  }
  FdCall(const FdCall&) = delete;
  FdCall& operator=(const FdCall&) = delete;
};

// Around a call that may block before it makes fds; its record is written
// under an FdCall of its own after the system call returns.
class BlockingFdCall {
 public:
  BlockingFdCall();
  ~BlockingFdCall();
  BlockingFdCall(const BlockingFdCall&) = delete;
  BlockingFdCall& operator=(const BlockingFdCall&) = delete;
};

using detail::kGateClosed;
using detail::kRotationWanted;
// The trace wants a rotation at the next FdCall.
inline void request_rotation() {
  if (!(detail::g_forking.load(std::memory_order_relaxed) & detail::kRotationWanted))
    detail::g_forking.fetch_or(detail::kRotationWanted, std::memory_order_seq_cst);
}
// Runs with the gate closed and no fd call in flight; returns false to
// have it retried no sooner than a while later.
void set_rotation_handler(bool (*rotate)());

// fork() handlers, called by the Tracker's.
void before_fork();
void after_fork_in_parent();
void after_fork_in_child();

// In a fork child, after after_fork_in_child(): whether the Fork record
// alone does not define its fds, so it must list them.
bool child_must_list_fds();

}  // namespace connleak::shim::fork_gate
