// What the shim knows of each fd number: whether it is a socket it tracks,
// that socket's close-on-exec flag, and where its I/O counters live. Two-level and lock-free: pages of
// slots are mmap'd on first use and installed with a CAS; a look-up is two
// loads, so close() of a non-socket fd costs next to nothing and is
// async-signal-safe.
#pragma once

#include <atomic>
#include <cstdint>

#include "connleak/trace_format.h"

namespace connleak::shim {

// Where a socket's records are in the trace's current segment
// (TraceWriter::Ref, 0 = none): a checkpoint copies them (checkpoint.cpp).
// Kept per fd and copied by dup; a checkpoint takes the newest of each
// kind among the fds of one socket.
enum SocketRecord { kOpenRecord, kConnectRecord, kBindRecord, kListenRecord, kShutdownRecord, kOwnerRecord,
                    kInodeRecord, kSocketRecords };

inline constexpr uint32_t kNoSite = ~0u;  // FdSlot::site of a socket not counted per site

struct alignas(64) FdSlot {
  std::atomic<uint32_t> flags{0};  // FdTable::k*
  // The stack id that made the socket (per-site counters, SiteTable), or
  // kNoSite for a copy (inherited, a dup's second fd).
  uint32_t site = kNoSite;
  // The socket's counters record in the trace (shared by its dups).
  std::atomic<trace::IoCounters*> counters{nullptr};
  // The cycle count when I/O through this fd last read the clock (0: never),
  // so back-to-back I/O reads it once per tick (Tracker::stamp_io).
  uint64_t clock_read_cycles = 0;
  uint32_t records[kSocketRecords] = {};
  uint32_t reserved = 0;
};
static_assert(sizeof(FdSlot) == 64);  // one cache line

class FdTable {
 public:
  static constexpr uint32_t kTracked = 1;
  static constexpr uint32_t kCloexec = 2;
  // Was a tracked socket until closed, and not reused since: a second
  // close() of it is a double close.
  static constexpr uint32_t kClosedSocket = 4;
  // Another process may hold the socket too (it was there at a fork, or
  // crossed with SCM_RIGHTS): its close gets the fine clock, since who let
  // go of it last is decided by time.
  static constexpr uint32_t kShared = 8;
  // A fork child's copy of its parent's socket (checkpoints say so).
  static constexpr uint32_t kForkCopy = 16;
  static constexpr int kPageBits = 10;
  static constexpr int kPages = 1024;
  static constexpr int kMaxFds = kPages << kPageBits;  // 1,048,576 = Linux nr_open default

  // The slot of a tracked socket, or nullptr.
  FdSlot* tracked(int fd) const {
    FdSlot* slot = find(fd);
    return slot && (slot->flags.load(std::memory_order_acquire) & kTracked) ? slot : nullptr;
  }
  bool is_tracked(int fd) const { return tracked(fd) != nullptr; }

  // No socket is tracked at fd, and none was closed there since the number
  // was last reused: a close() of it has nothing to record.
  bool holds_nothing(int fd) const {
    FdSlot* slot = find(fd);
    return !slot || slot->flags.load(std::memory_order_acquire) == 0;
  }

  // The slot of `fd` whether tracked or not (nullptr beyond the table).
  FdSlot* slot(int fd) const { return find(fd); }

  // Starts tracking `fd` (a new socket, or a dup sharing `counters`).
  // Returns false when fd is beyond the table or memory for it cannot be had.
  bool track(int fd, bool cloexec, trace::IoCounters* counters = nullptr, bool shared = false,
             const FdSlot* copy_of = nullptr) {
    FdSlot* slot = find(fd);
    if (__builtin_expect(!slot, 0)) slot = find_or_create(fd);
    if (!slot) return false;
    slot->counters.store(counters, std::memory_order_relaxed);
    slot->clock_read_cycles = 0;
    slot->site = kNoSite;
    for (int i = 0; i < kSocketRecords; ++i) slot->records[i] = copy_of ? copy_of->records[i] : 0;
    slot->flags.store(kTracked | (cloexec ? kCloexec : 0) | (shared ? kShared : 0), std::memory_order_release);
    if (fd > max_fd_.load(std::memory_order_relaxed)) raise_max_fd(fd);
    return true;
  }
  // Stops tracking; `closed` marks it as a closed socket (see kClosedSocket).
  void untrack(int fd, bool closed = false) {
    FdSlot* slot = find(fd);
    if (!slot) return;
    slot->flags.store(closed ? kClosedSocket : 0, std::memory_order_release);
    slot->counters.store(nullptr, std::memory_order_relaxed);
  }
  // A successful close of an untracked fd: the number is no closed socket.
  void forget_closed(int fd);
  void set_cloexec(int fd, bool cloexec);
  void mark_shared(int fd) {
    if (FdSlot* slot = tracked(fd)) slot->flags.fetch_or(kShared, std::memory_order_relaxed);
  }
  // Before a fork: every tracked socket is the child's too. Whether there
  // was any.
  bool mark_all_shared() {
    bool any = false;
    int last = max_fd();
    for (int page = 0; page <= (last >> kPageBits); ++page) {
      FdSlot* slots = pages_[page].load(std::memory_order_acquire);
      if (!slots) continue;  // no fd of this range was ever tracked
      for (int i = 0; i < (1 << kPageBits); ++i) {
        if (!(slots[i].flags.load(std::memory_order_relaxed) & kTracked)) continue;
        slots[i].flags.fetch_or(kShared, std::memory_order_relaxed);
        any = true;
      }
    }
    return any;
  }
  // Calls `visit(fd, slot)` for every tracked socket, in fd order.
  template <class Visit>
  void for_each_tracked(Visit&& visit) {
    int last = max_fd();
    for (int page = 0; page <= (last >> kPageBits); ++page) {
      FdSlot* slots = pages_[page].load(std::memory_order_acquire);
      if (!slots) continue;
      for (int i = 0; i < (1 << kPageBits); ++i)
        if (slots[i].flags.load(std::memory_order_relaxed) & kTracked) visit((page << kPageBits) + i, slots[i]);
    }
  }
  // Highest fd ever tracked, for the exit scan.
  int max_fd() const { return max_fd_.load(std::memory_order_relaxed); }

 private:
  FdSlot* find(int fd) const {
    if (fd < 0 || fd >= kMaxFds) return nullptr;
    FdSlot* page = pages_[fd >> kPageBits].load(std::memory_order_acquire);
    return page ? &page[fd & ((1 << kPageBits) - 1)] : nullptr;
  }
  FdSlot* find_or_create(int fd);
  void raise_max_fd(int fd);

  std::atomic<int> max_fd_{-1};
  std::atomic<FdSlot*> pages_[kPages] = {};
};

}  // namespace connleak::shim
