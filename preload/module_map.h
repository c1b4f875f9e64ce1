// Records the loaded ELF objects (path, address range, load bias, build-id)
// so the analyzer can symbolize stacks offline. Scanned at start-up and
// after every dlopen(); each object is written once per trace.
#pragma once

#include <cstdint>

struct dl_phdr_info;

namespace connleak::shim {

class TraceWriter;

class ModuleMap {
 public:
  // Writes a Module record for every loaded object not written before.
  void scan(TraceWriter& writer);
  // The address range of the object that contains `address`.
  static bool range_of(const void* address, uintptr_t* low, uintptr_t* high);

 private:
  struct Seen {
    uint64_t bias;
    uint64_t low;
  };
  bool seen(uint64_t bias, uint64_t low) const;
  void remember(uint64_t bias, uint64_t low);
  static constexpr int kMaxModules = 4096;
  Seen seen_[kMaxModules] = {};
  int count_ = 0;
  friend int module_callback(::dl_phdr_info*, unsigned long, void*);
};

}  // namespace connleak::shim
