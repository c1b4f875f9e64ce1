// Appends records to a trace file through a shared memory mapping: a record
// is in the page cache the moment it is written, so a SIGKILLed process
// still leaves a readable trace. Lock-free: space is reserved with one atomic
// add, and the file grows with fallocate(), which concurrent writers may
// call for overlapping ranges without harm. No allocation, no locks: safe to
// use from a signal handler.
//
// The writer keeps no fd open: the program's fd table is exactly its own
// (its /proc/self/fd listing, its numbers, how many it can open, what
// close_range closes). The mapping needs no fd; growing and trimming reopen
// the file by path for the length of one call, never through a symlink, and
// only if it is still the same file (device and inode).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "connleak/trace_format.h"

namespace connleak::shim {

class TraceWriter {
 public:
  // Creates a new trace file in `dir` (exclusively, mode 0600, never through
  // a symlink), named connleak.<pid>.<n>.trace, and writes `header`.
  bool create(const char* dir, int pid, const trace::FileHeader& header);

  // Reserves a record of type R plus `extra` bytes (rounded up to 8). Returns
  // nullptr when the trace cannot take it (full disk, size cap, finished).
  template <class R>
  R* reserve(size_t extra = 0) {
    return static_cast<R*>(reserve_bytes(sizeof(R) + extra));
  }
  // The same, for a record about `fd` (RecordHeader::fd).
  template <class R>
  R* reserve_for(int fd, size_t extra = 0) {
    R* record = reserve<R>(extra);
    if (record) record->h.fd = fd;
    return record;
  }
  // For the records that end a process (open sockets, lost counts, the end
  // itself): when the trace cannot grow, they go into space kept back for
  // them (FileHeader::tail_offset), and later ordinary records are refused.
  // `keep_back` bytes of that space stay free for the records after it.
  template <class R>
  R* reserve_final(size_t extra = 0, size_t keep_back = 0) {
    void* record = reserve_bytes(sizeof(R) + extra);
    return static_cast<R*>(record ? record : reserve_tail(sizeof(R) + extra, keep_back));
  }

  // Makes a reserved record visible to readers. Everything stored into it
  // before this call is part of the record.
  void publish(void* record, trace::RecordType type) {
    auto* header = static_cast<trace::RecordHeader*>(record);
    __atomic_store_n(&header->type, uint8_t(type), __ATOMIC_RELEASE);
  }

  uint64_t offset_of(const void* record) const {
    return uint64_t(static_cast<const char*>(record) - base_);
  }

  // Allocates `bytes` more of the file now, while it can still be reopened
  // (before the process gives up the user that may open it).
  void grow_ahead(uint64_t bytes) {
    if (base_) ensure_allocated(used_.load(std::memory_order_acquire) + bytes);
  }

  // Before an exec: notes where the data ends (FileHeader::exec_data_end),
  // for the next image to trim the file there; 0 after a failed exec.
  void mark_exec(bool execing);
  // In a new image after exec: trims the trace the previous image of this
  // pid left (its mark_exec), which cannot trim itself.
  void trim_previous_image(int pid) const;

  // Ends the trace: trims the file to its data. Later reservations fail.
  void finish();
  // In a fork child: lets go of the parent's file without touching it. The
  // mapping stays readable until release(), so data can be carried over.
  struct Detached {
    char* base;
    uint64_t capacity;
  };
  Detached detach();
  static void release(const Detached& detached);

  bool active() const { return base_ != nullptr; }
  const char* file_name() const { return name_; }
  uint64_t lost() const { return lost_.load(std::memory_order_relaxed); }

 private:
  // The common case inline: the space is already allocated.
  void* reserve_bytes(size_t size) {
    size = trace::align_record(size);
    uint64_t offset = used_.fetch_add(size, std::memory_order_relaxed);
    // Keep one zero header of padding after every record (see trace_format.h),
    // and the space for the final records.
    if (__builtin_expect(offset + size + sizeof(trace::RecordHeader) + kFinalReserve <=
                             allocated_.load(std::memory_order_acquire), 1)) {
      return start_record(offset, size);
    }
    return reserve_slow(offset, size);
  }
  void* start_record(uint64_t offset, size_t size) {
    auto* header = reinterpret_cast<trace::RecordHeader*>(base_ + offset);
    header->size = uint16_t(size);
    header->fd = -1;
    return header;
  }
  void* reserve_slow(uint64_t offset, size_t size);
  void* reserve_tail(size_t size, size_t keep_back);
  static constexpr uint64_t kFinalReserve = 16 * 1024;
  bool ensure_allocated(uint64_t needed);
  bool map_file(int fd);
  // The trace file opened again for one call; -1 if it is gone or replaced.
  int reopen() const;

  char* base_ = nullptr;
  uint64_t device_ = 0;
  uint64_t inode_ = 0;
  uint64_t capacity_ = 0;
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> allocated_{0};
  std::atomic<uint64_t> lost_{0};
  std::atomic<uint64_t> tail_used_{0};
  std::atomic<bool> finished_{false};  // where the next final record goes, once in use
  std::atomic<bool> warned_full_{false};
  char name_[trace::kTraceNameMax] = {};
  char path_[1200] = {};
};

}  // namespace connleak::shim
