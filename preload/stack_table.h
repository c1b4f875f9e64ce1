// Captures call stacks with libunwind and writes each distinct stack to the
// trace once; later events refer to it by id (as heaptrack does). The dedup
// table is a fixed, lock-free open-addressing hash: no allocation, no locks.
// When a slot is being filled by another thread (or the table is full) the
// stack is simply written again under a new id: duplicates cost space, never
// correctness.
//
// What the unwinder must never do to the program:
//  - take its fds: libunwind is loaded privately (RTLD_LOCAL, so its
//    _Unwind_* functions never replace libgcc's for the program); its
//    memory check, which keeps a pipe open, is replaced by one that needs no
//    fd, and the pipe it asks for at start-up is refused (pipe2 hook);
//  - take its stack: the unwind runs on a stack of the shim's (UnwindStacks),
//    so a thread with little stack left only pays for the hook's own frames;
//  - leave its locks held in a fork child: fork waits until no other thread
//    is inside libunwind (before_fork), and new unwinds wait for the fork.
// Where it cannot unwind safely (a signal handler interrupting an unwind, no
// free stack, a fork that did not drain), the event is recorded without a
// stack and counted.
//
// libunwind is loaded when first needed, not at start-up: loading it and
// its dependency costs a process image 0.3 ms, and most (a shell's
// /bin/true) never take a stack. It is loaded at the first of: the first
// stack; the first signal handler the program installs (before it is
// installed: loading in a handler that interrupted malloc or the loader
// would deadlock); the first thread it creates (while the process still has
// one thread, so no lock of the program's can be held elsewhere).
#pragma once

#include <atomic>
#include <cstdint>

namespace connleak::shim {

class ModuleMap;
class SiteTable;
class TraceWriter;

// True while this thread is inside libunwind: a pipe it asks for then is
// the unwinder's, not the program's.
bool inside_unwinder();

class StackTable {
 public:
  // Sets the frames kept per stack and the address range of the shim's own
  // code, whose frames are cut from the top of every stack.
  void configure(int depth, uintptr_t shim_low, uintptr_t shim_high);
  // Where each new stack's record goes is noted in `sites` (checkpoints).
  void set_sites(SiteTable* sites) { sites_ = sites; }
  // Captures the calling thread's stack; returns its id (0 if it could not be
  // written, or stacks are off). New stacks make sure `modules` covers them.
  uint32_t capture(TraceWriter& writer, ModuleMap& modules) {
    return depth_ == 0 ? 0 : capture_now(writer, modules);
  }
  // Writes the given frames (innermost first) unless written before;
  // returns the stack id. A new stack first makes sure `modules` (if given)
  // covers its addresses.
  uint32_t intern(TraceWriter& writer, const uint64_t* ips, int depth, ModuleMap* modules = nullptr);
  // Loads libunwind now if stacks are on and it is not loaded yet, where
  // the program is about to make a later load unsafe (see above).
  void prepare();
  // Nothing is left for prepare() to do.
  bool prepared() const { return depth_ == 0 || unwinder_.load(std::memory_order_acquire) != kNotLoaded; }
  // Stacks that could not be taken safely (see above).
  uint64_t omitted() const { return omitted_.load(std::memory_order_relaxed); }

  // A fork child whose parent's records it may no longer reach: every stack
  // it takes is written again, into its own trace (the old table is left
  // mapped: nothing else runs in such a child yet).
  void forget_written() { slots_.store(nullptr, std::memory_order_release); }

  // fork() handlers: the prepare handler drains running unwinds.
  void before_fork();
  void after_fork_in_parent();
  void after_fork_in_child();

 private:
  struct Slot {
    std::atomic<uint64_t> hash{0};
    std::atomic<uint32_t> id{0};
  };
  static constexpr uint32_t kSlots = 1 << 16;
  static constexpr int kProbes = 16;
  struct Capture;

  uint32_t capture_now(TraceWriter& writer, ModuleMap& modules);
  static void capture_on_own_stack(void* capture);
  static void load_on_own_stack(void* table);
  // Whether libunwind is ready, loading it first if nobody has (inside
  // enter_unwinder: a fork waits for the load).
  bool loaded();
  bool enter_unwinder();
  void leave_unwinder();
  uint32_t write_stack(TraceWriter& writer, const uint64_t* ips, int depth);
  Slot* slots();

  std::atomic<Slot*> slots_{nullptr};
  std::atomic<uint32_t> next_id_{1};
  int depth_ = 32;
  uintptr_t shim_low_ = 0;
  uintptr_t shim_high_ = 0;
  std::atomic<int> unwinding_{0};          // threads inside libunwind now
  std::atomic<bool> fork_pending_{false};  // a fork() is between its handlers
  bool fork_drained_ = true;
  std::atomic<bool> unwinder_unsafe_{false};  // a fork child whose parent did not drain
  std::atomic<uint64_t> omitted_{0};
  enum Unwinder : int { kNotLoaded, kLoading, kReady, kUnavailable };
  std::atomic<int> unwinder_{kNotLoaded};
  SiteTable* sites_ = nullptr;
};

}  // namespace connleak::shim
