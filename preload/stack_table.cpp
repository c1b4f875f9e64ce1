#include "stack_table.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <string.h>
#include <sys/mman.h>

#include "config.h"
#include "trace_writer.h"

namespace connleak::shim {
namespace {

__attribute__((tls_model("initial-exec"))) thread_local bool t_in_unwinder = false;

int unwind(void** frames, int max) {
  t_in_unwinder = true;
  int n = unw_backtrace(frames, max);
  t_in_unwinder = false;
  return n;
}

uint64_t hash_frames(const uint64_t* ips, int depth) {
  uint64_t h = 0xcbf29ce484222325ull ^ uint64_t(depth);
  for (int i = 0; i < depth; ++i) {
    h ^= ips[i];
    h *= 0x100000001b3ull;
    h ^= h >> 29;
  }
  return h | 1;  // 0 marks an empty slot
}

}  // namespace

bool inside_unwinder() { return t_in_unwinder; }

void StackTable::warm_up() {
  // Inside the unwinder flag: libunwind opens its pipe here (see pipe2).
  t_in_unwinder = true;
  // A per-thread cache of unwind information: no lock shared by threads,
  // and safe in signal handlers.
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
  t_in_unwinder = false;
  void* frames[4];
  unwind(frames, 4);
}

void StackTable::configure(int depth, uintptr_t shim_low, uintptr_t shim_high) {
  depth_ = depth;
  shim_low_ = shim_low;
  shim_high_ = shim_high;
}

StackTable::Slot* StackTable::slots() {
  Slot* table = slots_.load(std::memory_order_acquire);
  if (table) return table;
  // Zero-filled pages, touched only as slots are used.
  void* p = mmap(nullptr, sizeof(Slot) * kSlots, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if (!slots_.compare_exchange_strong(table, static_cast<Slot*>(p))) {
    munmap(p, sizeof(Slot) * kSlots);
    return table;
  }
  return static_cast<Slot*>(p);
}

uint32_t StackTable::capture_now(TraceWriter& writer) {
  void* frames[kMaxStackDepth + 16];
  int n = unwind(frames, depth_ + 16);
  // Cut the shim's own frames: the wrapper, the tracker, this function, and
  // wrappers further down (libcurl calling its own curl_multi_perform).
  uint64_t ips[kMaxStackDepth];
  int depth = 0;
  for (int i = 0; i < n && depth < depth_; ++i) {
    auto ip = uintptr_t(frames[i]);
    if (ip >= shim_low_ && ip < shim_high_) continue;
    ips[depth++] = uint64_t(ip);
  }
  return intern(writer, ips, depth);
}

uint32_t StackTable::intern(TraceWriter& writer, const uint64_t* ips, int depth) {
  uint64_t hash = hash_frames(ips, depth);
  Slot* table = slots();
  for (int probe = 0; table && probe < kProbes; ++probe) {
    Slot& slot = table[(hash + uint64_t(probe)) & (kSlots - 1)];
    uint64_t seen = slot.hash.load(std::memory_order_acquire);
    if (seen == 0 && slot.hash.compare_exchange_strong(seen, hash, std::memory_order_acq_rel)) {
      uint32_t id = write_stack(writer, ips, depth);
      slot.id.store(id, std::memory_order_release);
      return id;
    }
    if (seen == hash) {
      uint32_t id = slot.id.load(std::memory_order_acquire);
      if (id != 0) return id;
      break;  // being written by another thread right now: write our own copy
    }
  }
  return write_stack(writer, ips, depth);
}

uint32_t StackTable::write_stack(TraceWriter& writer, const uint64_t* ips, int depth) {
  auto* record = writer.reserve<trace::Stack>(sizeof(uint64_t) * size_t(depth));
  if (!record) return trace::kNoStack;
  uint32_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  record->id = id;
  record->depth = uint32_t(depth);
  memcpy(record + 1, ips, sizeof(uint64_t) * size_t(depth));
  writer.publish(record, trace::RecordType::kStack);
  return id;
}

}  // namespace connleak::shim
