// Records the loaded ELF objects (path, address range, load bias, build-id)
// so the analyzer can symbolize stacks offline. Scanned at start-up, and
// again when a new stack holds an address outside every object written so
// far (a library dlopen()ed since; dlopen itself is not interposed, as it
// reads its caller's RUNPATH). Each object is written once per trace, and
// again after a dlclose(), when another may have taken its addresses.
#pragma once

#include <atomic>
#include <cstdint>

struct dl_phdr_info;

namespace connleak::shim {

class TraceWriter;

class ModuleMap {
 public:
  // Writes a Module record for every loaded object not written before.
  void scan(TraceWriter& writer);
  // Scans again unless every address in ips[0..depth) is in a written object.
  void cover(TraceWriter& writer, const uint64_t* ips, int depth);
  // A library was unloaded: every object is written again at the next scan.
  void forget() { count_.store(0, std::memory_order_release); }
  // Calls `visit(ref)` with the TraceWriter::Ref of every Module record
  // written (a checkpoint copies them and stores the copy's Ref back).
  template <class Visit>
  void for_each_record(Visit&& visit) {
    int count = count_.load(std::memory_order_acquire);
    for (int i = 0; i < count; ++i) visit(seen_[i].ref);
  }
  // The address range of the object that contains `address`.
  static bool range_of(const void* address, uintptr_t* low, uintptr_t* high);

 private:
  struct Seen {
    uint64_t bias;
    uint64_t low;
    uint64_t high;
    uint32_t ref;  // its Module record in the current segment
  };
  bool seen(uint64_t bias, uint64_t low) const;
  bool covers(uint64_t address) const;
  int remember(uint64_t bias, uint64_t low, uint64_t high);
  static constexpr int kMaxModules = 4096;
  Seen seen_[kMaxModules] = {};
  std::atomic<int> count_{0};
  friend int module_callback(::dl_phdr_info*, unsigned long, void*);
};

}  // namespace connleak::shim
