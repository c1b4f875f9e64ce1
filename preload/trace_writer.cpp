#include "trace_writer.h"

#include <errno.h>

#include <algorithm>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errno_keeper.h"
#include "fork_gate.h"
#include "real_functions.h"
#include "shim_log.h"
#include "trace_files.h"

namespace connleak::shim {
namespace {

// The file grows in chunks; the mapping is reserved once, up to a cap. The
// first chunk holds a small process's whole trace (/bin/true 776 bytes, a
// shell 1 KiB, curl 4.4 KiB) and the room kept for the final records.
constexpr uint64_t kFirstChunk = 32 * 1024;
constexpr uint64_t kGrowthChunk = 64 * 1024;
constexpr uint64_t kMaxChunk = 4 * 1024 * 1024;
constexpr uint64_t kCapacities[] = {uint64_t(4) << 30, uint64_t(256) << 20, uint64_t(16) << 20};
// MADV_POPULATE_WRITE (Linux 5.14); older kernels refuse it, harmlessly.
constexpr int kPopulateWrite = 23;
// A finished writer's used_ is pushed past any capacity so reservations fail.
constexpr uint64_t kFinished = uint64_t(1) << 62;

uint64_t grow_target(uint64_t have, uint64_t needed) {
  uint64_t step = have < kGrowthChunk ? kGrowthChunk : (have < kMaxChunk ? have : kMaxChunk);
  uint64_t target = have + step;
  return target >= needed ? target : (needed + step - 1) / step * step;
}

// A new file's first chunk, before any other thread can grow it: sized
// without allocating blocks, and its pages faulted in, which reserves their
// room on a delayed-allocation file system (ext4, xfs) or fails instead of
// raising SIGBUS later. Blocks never allocated cost nothing to trim at exit;
// fallocate()d ones are discarded there (~80 us on ext4 mounted with
// discard, more than the rest of a short process's tracing). A kernel
// without MADV_POPULATE_WRITE (before 5.14) gets fallocate() as before.
bool reserve_first_chunk(int fd, void* base, uint64_t chunk) {
  if (files::extend(fd, 0, chunk, /*allocate=*/false) && madvise(base, chunk, kPopulateWrite) == 0) return true;
  if (!files::extend(fd, 0, chunk)) return false;
  madvise(base, chunk, kPopulateWrite);
  return true;
}

}  // namespace

bool TraceWriter::create(const char* dir, int pid, const trace::FileHeader& header, uint64_t max_size) {
  Segment& seg = segs_[slot(0)];
  int fd = files::create_first(dir, pid, seg.name, seg.path, sizeof(seg.path));
  if (fd < 0) {
    warn("cannot create a trace file in %s; this process is not traced", dir);
    return false;
  }
  size_t dir_length = size_t(strrchr(seg.path, '/') - seg.path);
  snprintf(dir_, sizeof(dir_), "%.*s", int(dir_length), seg.path);
  snprintf(stem_, sizeof(stem_), "%.*s", int(strlen(seg.name) - strlen(".trace")), seg.name);
  max_size_ = max_size;
  // Two segments and the first one's header fit the cap; a rotation is
  // asked for at three quarters of a segment, which leaves room for the
  // records written until it happens.
  segment_limit_ = max_size ? (max_size / 2 - 64 * 1024) & ~uint64_t(4095) : 0;
  rotate_at_ = segment_limit_ / 4 * 3;
  header_ = header;
  header_.segment_flags = max_size ? trace::kSegmentBounded : 0;
  bool mapped = map_file(slot(0), fd, kFirstChunk);
  real::close()(fd);
  if (!mapped) {
    warn("cannot map trace file %s; this process is not traced", seg.path);
    unlink(seg.path);
    return false;
  }
  memcpy(bases_[slot(0)], &header_, sizeof(header_));
  used_.store(tag_of(0) | sizeof(trace::FileHeader), std::memory_order_relaxed);
  allocated_.store(tag_of(0) | seg.allocated.load(std::memory_order_relaxed), std::memory_order_release);
  return true;
}

bool TraceWriter::map_file(int index, int fd, uint64_t first_chunk) {
  Segment& seg = segs_[index];
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  seg.device = st.st_dev;
  seg.inode = st.st_ino;
  seg.file = true;
  seg.allocated.store(0, std::memory_order_relaxed);
  const uint64_t bounded[] = {segment_limit_};
  const uint64_t* capacities = max_size_ ? bounded : kCapacities;
  size_t count = max_size_ ? 1 : sizeof(kCapacities) / sizeof(kCapacities[0]);
  for (size_t i = 0; i < count; ++i) {
    void* p = mmap(nullptr, capacities[i], PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) continue;
    uint64_t chunk = std::min(first_chunk, capacities[i]);
    if (reserve_first_chunk(fd, p, chunk)) {
      bases_[index] = static_cast<char*>(p);
      seg.capacity = capacities[i];
      seg.allocated.store(chunk, std::memory_order_release);
      return true;
    }
    munmap(p, capacities[i]);
    return false;
  }
  return false;
}

int TraceWriter::reopen(const Segment& seg) const { return files::reopen(seg.path, seg.device, seg.inode); }

uint64_t TraceWriter::offset_of(const void* record) const {
  auto* p = static_cast<const char*>(record);
  for (int i = 0; i < 4; ++i)
    if (bases_[i] && p >= bases_[i] && p < bases_[i] + segs_[i].capacity) return uint64_t(p - bases_[i]);
  return 0;
}

TraceWriter::Ref TraceWriter::ref_of(const void* record) const {
  const char* base = current_base();
  auto* p = static_cast<const char*>(record);
  if (!base || p < base || p >= base + current().capacity) return 0;
  return Ref(uint64_t(p - base) / trace::kRecordAlign);
}

const trace::RecordHeader* TraceWriter::at(Ref ref) const {
  if (!ref) return nullptr;
  return reinterpret_cast<const trace::RecordHeader*>(current_base() + uint64_t(ref) * trace::kRecordAlign);
}

void TraceWriter::grow_ahead(uint64_t bytes) {
  if (!active()) return;
  uint64_t used = used_.load(std::memory_order_acquire) & kOffsetMask;
  ensure_allocated(slot(gen_.load(std::memory_order_acquire)), used + bytes);
}

void* TraceWriter::reserve_slow(uint64_t tagged, size_t size) {
  // Growing the file makes system calls; an I/O hook records after a
  // successful call, whose errno the program may still look at.
  ErrnoKeeper keep;
  // A rotation switched segments since this reservation: a few retries at
  // most, each after another one.
  for (int attempt = 0; attempt < 4 && tagged < kFinished; ++attempt) {
    uint32_t gen = gen_.load(std::memory_order_acquire);
    if ((tagged & kTagMask) == tag_of(gen)) {
      uint64_t needed = (tagged & kOffsetMask) + size + sizeof(trace::RecordHeader) + kFinalReserve;
      if (needed <= segs_[slot(gen)].capacity && ensure_allocated(slot(gen), needed) &&
          gen == gen_.load(std::memory_order_acquire)) {
        return start_record(tagged, size);
      }
      if (gen == gen_.load(std::memory_order_acquire)) break;  // full: no rotation came in time
    } else if (void* late = reserve_late(tagged, size)) {
      return late;
    }
    tagged = used_.fetch_add(size, std::memory_order_acquire);
    if (tagged + size + sizeof(trace::RecordHeader) + kFinalReserve <= allocated_.load(std::memory_order_acquire))
      return start_record(tagged, size);
  }
  if (bounded()) fork_gate::request_rotation();
  lost_.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

// A reservation in a segment that a rotation has replaced: it is written
// there if that segment's mapping (or its anonymous stand-in, once the file
// was dropped) still has room for it; never into another segment.
void* TraceWriter::reserve_late(uint64_t tagged, size_t size) {
  const Segment& own = segs_[slot_of_tagged(tagged)];
  if (tag_of(own.gen) != (tagged & kTagMask)) return nullptr;  // its slot was reused since
  uint64_t end = (tagged & kOffsetMask) + size + sizeof(trace::RecordHeader);
  if (end > own.allocated.load(std::memory_order_acquire)) return nullptr;
  return start_record(tagged, size);
}

void* TraceWriter::reserve_tail(size_t size, size_t keep_back) {
  if (!active()) return nullptr;
  size = trace::align_record(size);
  char* base = current_base();
  uint64_t allocated = current().allocated.load(std::memory_order_acquire);
  uint64_t expected = 0;
  if (tail_used_.compare_exchange_strong(expected, allocated - kFinalReserve, std::memory_order_acq_rel)) {
    used_.store(kFinished, std::memory_order_release);  // ordinary records could reach the tail now
    __atomic_store_n(&reinterpret_cast<trace::FileHeader*>(base)->tail_offset, allocated - kFinalReserve,
                     __ATOMIC_RELEASE);
  }
  uint64_t offset = tail_used_.fetch_add(size, std::memory_order_acq_rel);
  if (offset + size + sizeof(trace::RecordHeader) + keep_back > allocated) {
    // Only the exit path (one thread, Tracker::on_exit) writes here: the
    // space can be given back for a smaller record.
    tail_used_.fetch_sub(size, std::memory_order_acq_rel);
    return nullptr;
  }
  auto* header = reinterpret_cast<trace::RecordHeader*>(base + offset);
  header->size = uint16_t(size);
  header->fd = -1;
  return header;
}

bool TraceWriter::ensure_allocated(int index, uint64_t needed) {
  Segment& seg = segs_[index];
  uint64_t have = seg.allocated.load(std::memory_order_acquire);
  while (have < needed) {
    uint64_t target = std::min(grow_target(have, needed), seg.capacity);
    if (target < needed) return false;
    // fallocate only ever extends, so racing writers cannot shrink the file.
    int fd = reopen(seg);
    bool grown = fd >= 0 && files::extend(fd, have, target);
    if (fd >= 0) real::close()(fd);
    if (!grown) {
      if (!warned_full_.exchange(true)) {
        warn("trace file %s cannot grow (disk full, no free fd, or the file was removed); later events are lost",
             seg.path);
      }
      return false;
    }
    // Fault the new chunk's pages in now, in one call: one page fault per
    // 4 KiB on a fresh file extent costs more than the records written there.
    madvise(bases_[index] + have, target - have, kPopulateWrite);
    while (have < target && !seg.allocated.compare_exchange_weak(have, target, std::memory_order_acq_rel)) {
    }
    if (index == slot(gen_.load(std::memory_order_acquire))) note_growth(target);
  }
  return true;
}

// The current segment grew to `target`: the hot path may use it (unless a
// rotation switched segments meanwhile), and past three quarters of a
// bounded segment the next one is asked for.
void TraceWriter::note_growth(uint64_t target) {
  uint64_t tag = tag_of(gen_.load(std::memory_order_acquire));
  uint64_t have = allocated_.load(std::memory_order_acquire);
  while ((have & kTagMask) == tag && (have & kOffsetMask) < target &&
         !allocated_.compare_exchange_weak(have, tag | target, std::memory_order_acq_rel)) {
  }
  if (bounded() && target > rotate_at_) fork_gate::request_rotation();
}

void TraceWriter::finish() {
  if (!active()) return;
  if (finished_.exchange(true)) return;
  uint64_t tagged = used_.exchange(kFinished, std::memory_order_acq_rel);
  uint64_t used = tagged >= kFinished ? 0 : tagged & kOffsetMask;
  uint64_t tail = tail_used_.load(std::memory_order_acquire);
  uint64_t allocated = current().allocated.load(std::memory_order_acquire);
  if (tail) {
    used = tail;
  } else if (used > allocated || used == 0) {
    used = allocated;  // reservations refused past the end: the data ends before
  }
  // Trimming makes a clean trace end exactly at its ProcessEnd record. A
  // process with no fd left keeps the zero padding, which readers skip.
  int fd = reopen(current());
  if (fd < 0) return;
  if (ftruncate(fd, off_t(used)) != 0) warn("cannot trim trace file %s", current().path);
  real::close()(fd);
}

void TraceWriter::mark_exec(bool execing) {
  if (!active()) return;
  uint64_t end = 0;
  if (execing) {
    uint64_t used = used_.load(std::memory_order_acquire);
    end = std::min(used >= kFinished ? ~uint64_t(0) : used & kOffsetMask,
                   current().allocated.load(std::memory_order_acquire));
    if (uint64_t tail = tail_used_.load(std::memory_order_acquire)) end = tail;
  }
  __atomic_store_n(&reinterpret_cast<trace::FileHeader*>(current_base())->exec_data_end, end, __ATOMIC_RELEASE);
}

void TraceWriter::trim_previous_image(int pid) const {
  files::trim_previous_image(dir_, stem_, pid);
}

const char* TraceWriter::file_name() const { return current().name; }

TraceWriter::Detached TraceWriter::detach() {
  Detached detached{};
  detached.current = slot(gen_.load(std::memory_order_relaxed));
  for (int i = 0; i < 4; ++i) {
    detached.bases[i] = bases_[i];
    detached.capacities[i] = segs_[i].capacity;
    detached.allocated[i] = segs_[i].file ? segs_[i].allocated.load(std::memory_order_relaxed) : 0;
    bases_[i] = nullptr;
    segs_[i].capacity = 0;
    segs_[i].allocated.store(0, std::memory_order_relaxed);
    segs_[i].file = false;
    segs_[i].gen = 0;
  }
  gen_.store(0, std::memory_order_relaxed);
  tail_used_.store(0, std::memory_order_relaxed);
  finished_.store(false, std::memory_order_relaxed);
  used_.store(0, std::memory_order_relaxed);
  allocated_.store(0, std::memory_order_relaxed);
  lost_.store(0, std::memory_order_relaxed);
  warned_full_.store(false, std::memory_order_relaxed);
  return detached;
}

void TraceWriter::release(const Detached& detached) {
  for (int i = 0; i < 4; ++i)
    if (detached.bases[i]) munmap(detached.bases[i], detached.capacities[i]);
}

}  // namespace connleak::shim
