#include "fd_table.h"

#include <sys/mman.h>

namespace connleak::shim {
namespace {

constexpr size_t kPageBytes = sizeof(FdSlot) << FdTable::kPageBits;

FdSlot* map_page() {
  // mmap, not malloc: this may run inside a signal handler.
  void* p = mmap(nullptr, kPageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<FdSlot*>(p);
}

}  // namespace

FdSlot* FdTable::find_or_create(int fd) {
  if (fd < 0 || fd >= kMaxFds) return nullptr;
  std::atomic<FdSlot*>& entry = pages_[fd >> kPageBits];
  FdSlot* page = entry.load(std::memory_order_acquire);
  if (!page) {
    FdSlot* fresh = map_page();
    if (!fresh) return nullptr;
    if (entry.compare_exchange_strong(page, fresh, std::memory_order_acq_rel)) {
      page = fresh;
    } else {
      munmap(fresh, kPageBytes);  // another thread installed one first
    }
  }
  return &page[fd & ((1 << kPageBits) - 1)];
}

void FdTable::raise_max_fd(int fd) {
  int seen = max_fd_.load(std::memory_order_relaxed);
  while (fd > seen && !max_fd_.compare_exchange_weak(seen, fd, std::memory_order_relaxed)) {
  }
}

void FdTable::forget_closed(int fd) {
  FdSlot* slot = find(fd);
  if (slot && slot->flags.load(std::memory_order_relaxed) == kClosedSocket) {
    slot->flags.store(0, std::memory_order_relaxed);
  }
}

void FdTable::set_cloexec(int fd, bool cloexec) {
  FdSlot* slot = tracked(fd);
  if (!slot) return;
  uint32_t flags = slot->flags.load(std::memory_order_relaxed);
  uint32_t wanted;
  do {
    wanted = cloexec ? (flags | kCloexec) : (flags & ~kCloexec);
  } while (!slot->flags.compare_exchange_weak(flags, wanted, std::memory_order_acq_rel));
}

}  // namespace connleak::shim
