// A map from non-zero 64-bit keys for the length of one checkpoint, in
// memory mmap'd for it: no allocator (a checkpoint may run in a signal
// handler's close()), and sized from the count it must hold, so it never
// fills.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace connleak::shim {

template <class Value>
class ScratchMap {
 public:
  ScratchMap() = default;
  ScratchMap(const ScratchMap&) = delete;
  ScratchMap& operator=(const ScratchMap&) = delete;
  ~ScratchMap() {
    if (entries_) munmap(entries_, bytes_);
  }
  // Room for `count` keys; false without memory.
  bool reserve(size_t count) {
    size_t slots = 64;
    while (slots < 2 * count) slots <<= 1;
    bytes_ = slots * sizeof(Entry);
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    entries_ = static_cast<Entry*>(p);
    mask_ = slots - 1;
    return true;
  }
  // The value of `key`, made zero-initialised (`*added` set) when new.
  Value* get(uint64_t key, bool* added = nullptr) {
    for (size_t i = index(key);; i = (i + 1) & mask_) {
      if (entries_[i].key == key) {
        if (added) *added = false;
        return &entries_[i].value;
      }
      if (entries_[i].key == 0) {
        entries_[i].key = key;
        if (added) *added = true;
        return &entries_[i].value;
      }
    }
  }

 private:
  struct Entry {
    uint64_t key;
    Value value;
  };
  size_t index(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
  Entry* entries_ = nullptr;
  size_t mask_ = 0;
  size_t bytes_ = 0;
};

}  // namespace connleak::shim

namespace connleak::shim {

// An array of `count` zeroed T for the length of one checkpoint.
template <class T>
class ScratchArray {
 public:
  ScratchArray() = default;
  ScratchArray(const ScratchArray&) = delete;
  ScratchArray& operator=(const ScratchArray&) = delete;
  ~ScratchArray() {
    if (data_) munmap(data_, bytes_);
  }
  bool reserve(size_t count) {
    bytes_ = (count ? count : 1) * sizeof(T);
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    data_ = static_cast<T*>(p);
    return true;
  }
  T* data() { return data_; }

 private:
  T* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace connleak::shim
