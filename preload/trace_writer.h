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
//
// Bounded mode (a size cap): the trace is a run of segment files of at most
// half the cap each (trace_rotation.cpp). Every reservation is tagged with
// its segment's generation in the high bits of the offset counter, and the
// allocated limit likewise, so a thread that reserved in a segment that was
// since replaced fails the one compare of the hot path and is resolved, in
// the slow path, against the mapping of its own generation: it never writes
// into another segment.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "connleak/trace_format.h"

namespace connleak::shim {

class TraceWriter {
 public:
  // Where a record is in the current segment, in units of kRecordAlign
  // (0: none; offset 0 is the file header). What the shim keeps of the
  // records it copies into a checkpoint.
  using Ref = uint32_t;

  // Creates a new trace file in `dir` (exclusively, mode 0600, never through
  // a symlink), named connleak.<pid>.<n>.trace, and writes `header`.
  // `max_size` > 0 bounds the trace's files to that many bytes in all.
  bool create(const char* dir, int pid, const trace::FileHeader& header, uint64_t max_size = 0);

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

  // The record's offset in the segment that holds it.
  uint64_t offset_of(const void* record) const;
  // The record's Ref if it is in the current segment, else 0.
  Ref ref_of(const void* record) const;
  // The record at `ref` in the current segment (nullptr for 0).
  const trace::RecordHeader* at(Ref ref) const;

  // Allocates `bytes` more of the file now, while it can still be reopened
  // (before the process gives up the user that may open it).
  void grow_ahead(uint64_t bytes);

  // Before an exec: notes where the data ends (FileHeader::exec_data_end),
  // for the next image to trim the file there; 0 after a failed exec.
  void mark_exec(bool execing);
  // In a new image after exec: trims the trace the previous image of this
  // pid left (its mark_exec), which cannot trim itself.
  void trim_previous_image(int pid) const;

  // Ends the trace: trims the file to its data. Later reservations fail.
  void finish();
  // In a fork child: lets go of the parent's files without touching them.
  // The mappings stay readable until release(), so data can be carried over
  // (`current` is the segment the parent was writing).
  struct Detached {
    char* bases[4];
    uint64_t capacities[4];
    uint64_t allocated[4];
    int current;
  };
  Detached detach();
  static void release(const Detached& detached);

  bool active() const { return current_base() != nullptr; }
  bool bounded() const { return max_size_ != 0; }
  const char* file_name() const;
  uint64_t lost() const { return lost_.load(std::memory_order_relaxed); }
  uint32_t segment() const { return gen_.load(std::memory_order_acquire); }

  // Rotation (trace_rotation.cpp), by one thread while no other records
  // anything that a checkpoint holds (fork_gate.h):
  // The current segment is past the point where it should be rotated.
  bool rotation_due() const {
    return bounded() && current().allocated.load(std::memory_order_acquire) > rotate_at_;
  }
  // The most a checkpoint may take of a segment.
  uint64_t checkpoint_room() const { return rotate_at_ / 2; }
  uint64_t current_allocated() const { return current().allocated.load(std::memory_order_acquire); }
  // Drops the segment before the current one and creates the next, with
  // `checkpoint_bytes` allocated for its checkpoint; false (nothing changed
  // but the drop) when it cannot.
  bool begin_segment(uint64_t checkpoint_bytes);
  // Reserves a record in the next segment, before it is switched to.
  void* reserve_next(size_t size);
  template <class R>
  R* reserve_next(size_t extra = 0) {
    return static_cast<R*>(reserve_next(sizeof(R) + extra));
  }
  // The Ref a record reserved with reserve_next() will have once switched to.
  Ref next_ref_of(const void* record) const;
  // New records go to the next segment from now on.
  void switch_segment();
  // The next segment could not be written in full: it is deleted.
  void abandon_segment();
  // The base of the segment records are written to, for a checkpoint
  // written from a parent's mapping after fork.
  char* current_base() const { return bases_[slot(gen_.load(std::memory_order_acquire))]; }

 private:
  static constexpr int kTagShift = 40;
  static constexpr uint64_t kOffsetMask = (uint64_t(1) << kTagShift) - 1;
  static constexpr uint64_t kTagMask = ~kOffsetMask;
  static constexpr uint32_t kGenTop = (1u << 22) - 1;
  // Generation g's tag counts down, so an older generation's reservation is
  // larger than any limit of a newer one: it fails the hot path's compare.
  static constexpr uint64_t tag_of(uint32_t gen) { return uint64_t(kGenTop - (gen & kGenTop)) << kTagShift; }
  static constexpr int slot(uint32_t gen) { return int(tag_of(gen) >> kTagShift) & 3; }
  static constexpr int slot_of_tagged(uint64_t tagged) { return int(tagged >> kTagShift) & 3; }

  // The common case inline: the space is already allocated.
  void* reserve_bytes(size_t size) {
    size = trace::align_record(size);
    uint64_t tagged = used_.fetch_add(size, std::memory_order_acquire);
    // Keep one zero header of padding after every record (see trace_format.h),
    // and the space for the final records.
    if (__builtin_expect(tagged + size + sizeof(trace::RecordHeader) + kFinalReserve <=
                             allocated_.load(std::memory_order_acquire), 1)) {
      return start_record(tagged, size);
    }
    return reserve_slow(tagged, size);
  }
  void* start_record(uint64_t tagged, size_t size) {
    auto* header = reinterpret_cast<trace::RecordHeader*>(bases_[slot_of_tagged(tagged)] + (tagged & kOffsetMask));
    header->size = uint16_t(size);
    header->fd = -1;
    return header;
  }
  void* reserve_slow(uint64_t tagged, size_t size);
  void* reserve_late(uint64_t tagged, size_t size);
  void* reserve_tail(size_t size, size_t keep_back);
  static constexpr uint64_t kFinalReserve = 16 * 1024;

  // One segment file and its mapping.
  struct Segment {
    uint64_t capacity = 0;  // bytes mapped
    std::atomic<uint64_t> allocated{0};  // bytes of the file allocated
    uint64_t device = 0;
    uint64_t inode = 0;
    uint32_t gen = 0;
    bool file = false;  // the file exists (not yet dropped)
    char name[trace::kTraceNameMax] = {};
    char path[1200] = {};
  };
  Segment& current() { return segs_[slot(gen_.load(std::memory_order_acquire))]; }
  const Segment& current() const { return segs_[slot(gen_.load(std::memory_order_acquire))]; }
  bool ensure_allocated(int index, uint64_t needed);
  bool map_file(int index, int fd, uint64_t first_chunk);
  void note_growth(uint64_t target);
  // The segment's file opened again for one call; -1 if it is gone or replaced.
  int reopen(const Segment& seg) const;
  bool open_segment_file(int index, uint32_t gen);
  void drop_segment(int index);
  void retire_mapping(int index);
  void update_last_segment(uint32_t gen) const;
  void segment_name(uint32_t gen, char* name) const;

  // Hot: every reservation reads these.
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> allocated_{0};
  char* bases_[4] = {};
  std::atomic<uint32_t> gen_{0};
  std::atomic<uint64_t> lost_{0};
  std::atomic<uint64_t> tail_used_{0};
  std::atomic<bool> finished_{false};  // where the next final record goes, once in use
  std::atomic<bool> warned_full_{false};
  uint64_t max_size_ = 0;
  uint64_t segment_limit_ = 0;    // bounded: the most one segment may hold
  uint64_t rotate_at_ = 0;        // bounded: past this, a rotation is asked for
  uint64_t next_used_ = 0;        // the next segment's fill, before the switch
  trace::FileHeader header_{};    // the first segment's, for the next ones
  char dir_[1100] = {};  // absolute
  char stem_[trace::kTraceNameMax] = {};  // connleak.<pid>.<n>
  Segment segs_[4];
};

}  // namespace connleak::shim
