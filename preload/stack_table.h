// Captures call stacks with libunwind and writes each distinct stack to the
// trace once; later events refer to it by id (as heaptrack does). The dedup
// table is a fixed, lock-free open-addressing hash: no allocation, no locks.
// When a slot is being filled by another thread (or the table is full) the
// stack is simply written again under a new id: duplicates cost space, never
// correctness.
#pragma once

#include <atomic>
#include <cstdint>

namespace connleak::shim {

class TraceWriter;

// True while this thread is inside libunwind: fds it opens then (its
// memory-validation pipe) belong to the shim, not to the program.
bool inside_unwinder();

class StackTable {
 public:
  // Sets the frames kept per stack and the address range of the shim's own
  // code, whose frames are cut from the top of every stack.
  void configure(int depth, uintptr_t shim_low, uintptr_t shim_high);
  // Captures the calling thread's stack; returns its id (0 if it could not be
  // written, or stacks are off).
  uint32_t capture(TraceWriter& writer) { return depth_ == 0 ? 0 : capture_now(writer); }
  // Writes the given frames (innermost first); returns the stack id.
  uint32_t intern(TraceWriter& writer, const uint64_t* ips, int depth);
  // Initialises libunwind now (it opens a pipe on first use), so that
  // happens at start-up and not in the middle of the program.
  static void warm_up();

 private:
  struct Slot {
    std::atomic<uint64_t> hash{0};
    std::atomic<uint32_t> id{0};
  };
  static constexpr uint32_t kSlots = 1 << 16;
  static constexpr int kProbes = 16;

  uint32_t capture_now(TraceWriter& writer);
  uint32_t write_stack(TraceWriter& writer, const uint64_t* ips, int depth);
  Slot* slots();

  std::atomic<Slot*> slots_{nullptr};
  std::atomic<uint32_t> next_id_{1};
  int depth_ = 32;
  uintptr_t shim_low_ = 0;
  uintptr_t shim_high_ = 0;
};

}  // namespace connleak::shim
