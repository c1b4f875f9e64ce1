#include "session_table.h"

#include <sys/mman.h>

#include "site_table.h"

namespace connleak::shim {

SessionSlot* SessionTable::slots() const {
  SessionSlot* table = slots_.load(std::memory_order_acquire);
  if (table) return table;
  void* p = mmap(nullptr, sizeof(SessionSlot) * kSlots, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if (!slots_.compare_exchange_strong(table, static_cast<SessionSlot*>(p))) {
    munmap(p, sizeof(SessionSlot) * kSlots);
    return table;
  }
  return static_cast<SessionSlot*>(p);
}

SessionSlot* SessionTable::find(uint64_t handle) const {
  SessionSlot* table = slots();
  if (!table || handle <= kTombstone) return nullptr;
  for (uint32_t probe = 0, i = hash(handle); probe < kProbes; ++probe, i = (i + 1) & (kSlots - 1)) {
    uint64_t held = table[i].handle.load(std::memory_order_acquire);
    if (held == handle) return &table[i];
    if (held == 0) return nullptr;
  }
  return nullptr;
}

SessionSlot* SessionTable::insert(uint64_t handle) {
  SessionSlot* table = slots();
  if (!table || handle <= kTombstone) return nullptr;
  SessionSlot* slot = find(handle);
  for (uint32_t probe = 0, i = hash(handle); !slot && probe < kProbes; ++probe, i = (i + 1) & (kSlots - 1)) {
    uint64_t held = table[i].handle.load(std::memory_order_acquire);
    if (held > kTombstone) continue;
    // Claim it while still free: another session's begin may race for it.
    if (table[i].handle.compare_exchange_strong(held, handle, std::memory_order_acq_rel)) slot = &table[i];
  }
  if (!slot) return nullptr;
  slot->begin_ref = 0;
  slot->site = kNoSessionSite;
  slot->transfers = slot->last_transfer_ns = slot->multi = slot->connections = 0;
  slot->references = 1;
  slot->api = 0;
  return slot;
}

void SessionTable::forget_sites() {
  for_each_live([](SessionSlot& slot) { slot.site = kNoSessionSite; });
}

}  // namespace connleak::shim
