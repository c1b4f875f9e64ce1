// Per creation site (stack id): how many sockets and sessions the image
// opened and closed there, and where the site's Stack record is in the
// current segment. A bounded trace drops old history; a checkpoint carries
// these counts (trace::SiteCounters), so the totals and growth per site stay
// exact. Two-level and lock-free like the FdTable: pages are mmap'd on
// first use; counting is one relaxed atomic add.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstdint>

namespace connleak::shim {

struct SiteEntry {
  std::atomic<uint32_t> stack_ref{0};  // TraceWriter::Ref of the Stack record
  std::atomic<uint16_t> session_api{0};  // SessionApi + 1 of sessions made here, 0 = none
  uint16_t reserved = 0;
  std::atomic<uint64_t> sockets_opened{0};
  std::atomic<uint64_t> sockets_closed{0};
  std::atomic<uint64_t> sessions_opened{0};
  std::atomic<uint64_t> sessions_closed{0};
};

class SiteTable {
 public:
  static constexpr int kPageBits = 12;
  static constexpr uint32_t kPages = 256;
  static constexpr uint32_t kMaxIds = kPages << kPageBits;  // stack ids beyond are not counted

  // The entry of stack id `id` (0: events without a stack), made on demand;
  // nullptr beyond kMaxIds or without memory.
  SiteEntry* entry(uint32_t id) {
    if (id >= kMaxIds) return nullptr;
    SiteEntry* page = pages_[id >> kPageBits].load(std::memory_order_acquire);
    if (__builtin_expect(!page, 0) && !(page = make_page(id >> kPageBits))) return nullptr;
    return &page[id & ((1u << kPageBits) - 1)];
  }
  const SiteEntry* find(uint32_t id) const {
    if (id >= kMaxIds) return nullptr;
    SiteEntry* page = pages_[id >> kPageBits].load(std::memory_order_acquire);
    return page ? &page[id & ((1u << kPageBits) - 1)] : nullptr;
  }
  static void count(std::atomic<uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }
  void socket_opened(uint32_t id) {
    if (SiteEntry* e = entry(id)) count(e->sockets_opened);
  }
  void socket_closed(uint32_t id) {
    if (SiteEntry* e = entry(id)) count(e->sockets_closed);
  }
  // Ids below this may have entries.
  uint32_t end() const { return end_.load(std::memory_order_acquire); }
  // A fork child starts counting its own.
  void reset_counts();
  // A fork child whose parent's records it may no longer reach: no site
  // points at a Stack record of the parent's.
  void forget_stacks() {
    for (uint32_t id = 0; id < end(); ++id)
      if (SiteEntry* e = entry(id)) e->stack_ref.store(0, std::memory_order_relaxed);
  }

 private:
  SiteEntry* make_page(uint32_t page_index) {
    constexpr size_t bytes = sizeof(SiteEntry) << kPageBits;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    SiteEntry* fresh = static_cast<SiteEntry*>(p);
    SiteEntry* expected = nullptr;
    if (!pages_[page_index].compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
      munmap(p, bytes);
      return expected;
    }
    uint32_t end = (page_index + 1) << kPageBits;
    uint32_t seen = end_.load(std::memory_order_relaxed);
    while (seen < end && !end_.compare_exchange_weak(seen, end, std::memory_order_acq_rel)) {
    }
    return fresh;
  }

  std::atomic<uint32_t> end_{0};
  std::atomic<SiteEntry*> pages_[kPages] = {};
};

inline void SiteTable::reset_counts() {
  for (uint32_t id = 0; id < end(); ++id) {
    SiteEntry* e = entry(id);
    if (!e) continue;
    e->sockets_opened.store(0, std::memory_order_relaxed);
    e->sockets_closed.store(0, std::memory_order_relaxed);
    e->sessions_opened.store(0, std::memory_order_relaxed);
    e->sessions_closed.store(0, std::memory_order_relaxed);
  }
}

}  // namespace connleak::shim
