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
#pragma once

namespace connleak::shim::fork_gate {

// Between the system call and its record, for calls that change fds.
class FdCall {
 public:
  FdCall();
  ~FdCall();
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

// fork() handlers, called by the Tracker's.
void before_fork();
void after_fork_in_parent();
void after_fork_in_child();

// In a fork child, after after_fork_in_child(): whether the Fork record
// alone does not define its fds, so it must list them.
bool child_must_list_fds();

}  // namespace connleak::shim::fork_gate
