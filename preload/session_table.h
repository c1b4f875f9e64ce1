// The live sessions, by handle, with what a checkpoint must say of each:
// where its SessionBegin record is, its completed transfers, references
// (SSL_CTX), the multi it joined, the connections made while it held them.
// A fixed open-addressing table in mmap'd memory, no locks: session calls
// are rare next to socket calls, and a checkpoint reads the table only with
// the fork gate closed (no session call is recording then). A handle that
// finds no free slot is counted (trace::LostReason::kCheckpointIncomplete).
#pragma once

#include <atomic>
#include <cstdint>

namespace connleak::shim {

inline constexpr uint32_t kNoSessionSite = ~0u;  // SessionSlot::site of an inherited session

struct alignas(64) SessionSlot {
  std::atomic<uint64_t> handle{0};  // 0 free, kTombstone: ended
  uint32_t begin_ref = 0;           // TraceWriter::Ref of its SessionBegin
  uint32_t site = 0;                // its stack id (SiteTable)
  uint64_t transfers = 0;
  uint64_t last_transfer_ns = 0;
  uint64_t multi = 0;
  uint64_t connections = 0;
  int32_t references = 1;
  uint16_t api = 0;
};

class SessionTable {
 public:
  static constexpr uint64_t kTombstone = 1;
  static constexpr uint32_t kSlots = 1 << 15;

  // The slot of a new session at `handle` (an older one at the same address
  // is replaced); nullptr when the table is full.
  SessionSlot* insert(uint64_t handle);
  SessionSlot* find(uint64_t handle) const;
  void erase(SessionSlot* slot) { slot->handle.store(kTombstone, std::memory_order_release); }
  // Calls `visit(slot)` for every live session.
  template <class Visit>
  void for_each_live(Visit&& visit) const {
    SessionSlot* slots = slots_.load(std::memory_order_acquire);
    if (!slots) return;
    for (uint32_t i = 0; i < kSlots; ++i)
      if (slots[i].handle.load(std::memory_order_acquire) > kTombstone) visit(slots[i]);
  }
  // A fork child's sessions are its parent's: not counted at its sites.
  void forget_sites();
  // No session is live (no table yet: no walk).
  bool empty() const {
    bool none = true;
    for_each_live([&](const SessionSlot&) { none = false; });
    return none;
  }

 private:
  static constexpr int kProbes = 64;
  SessionSlot* slots() const;
  static uint32_t hash(uint64_t handle) { return uint32_t((handle * 0x9E3779B97F4A7C15ull) >> 49); }
  mutable std::atomic<SessionSlot*> slots_{nullptr};
};

}  // namespace connleak::shim
