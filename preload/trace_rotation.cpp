// Segment rotation of a bounded trace. When the current segment passes
// three quarters of its limit (half the cap), the Tracker (checkpoint.cpp)
// drops the segment before it, creates the next one, writes a checkpoint at
// its head with reserve_next()/copy_to_next(), and switches writers over.
// The segment before the previous one is dropped *before* the next is
// made, so the files never take more than the cap; a SIGKILL at any step
// leaves the previous segment, whose own checkpoint rebuilds everything
// from its start, and the current one.
//
// A dropped segment's mapping is replaced by an anonymous one at the same
// address (MAP_FIXED): a thread that reserved there just before the switch
// and stores late writes into memory nobody reads, never into a freed file
// or another segment. Its address range is unmapped only when its slot of
// four comes round again, four rotations later.
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "real_functions.h"
#include "shim_log.h"
#include "trace_files.h"
#include "trace_writer.h"

namespace connleak::shim {

void TraceWriter::retire_mapping(int index) {
  Segment& seg = segs_[index];
  if (!bases_[index]) return;
  mmap(bases_[index], seg.capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
       -1, 0);
  seg.allocated.store(seg.capacity, std::memory_order_release);  // late stores land in the stand-in
}

// Segment 0 keeps its header (the image's file name and the newest
// segment's number, for an exec that follows); a later one goes.
void TraceWriter::drop_segment(int index) {
  Segment& seg = segs_[index];
  if (!seg.file) return;
  retire_mapping(index);
  seg.file = false;
  if (seg.gen != 0) {
    unlink(seg.path);
    return;
  }
  uint32_t flags = header_.segment_flags | trace::kSegmentDropped;
  files::patch_header(seg.path, header_.pid, offsetof(trace::FileHeader, segment_flags), &flags, sizeof(flags));
  int fd = reopen(seg);
  if (fd < 0) return;
  ftruncate(fd, off_t(sizeof(trace::FileHeader)));
  real::close()(fd);
}

void TraceWriter::update_last_segment(uint32_t gen) const {
  char name[trace::kTraceNameMax], path[sizeof(dir_) + trace::kTraceNameMax + 2];
  files::segment_name(stem_, 0, name);
  snprintf(path, sizeof(path), "%s/%s", dir_, name);
  files::patch_header(path, header_.pid, offsetof(trace::FileHeader, last_segment), &gen, sizeof(gen));
}

bool TraceWriter::open_segment_file(int index, uint32_t gen) {
  Segment& seg = segs_[index];
  if (bases_[index]) munmap(bases_[index], seg.capacity);  // four rotations old: no writer is left there
  bases_[index] = nullptr;
  seg.gen = gen;
  files::segment_name(stem_, gen, seg.name);
  int fd = files::create_segment(dir_, seg.name, seg.path, sizeof(seg.path));
  if (fd < 0) return false;
  bool mapped = map_file(index, fd, 256 * 1024);
  real::close()(fd);
  if (!mapped) {
    unlink(seg.path);
    seg.file = false;
    return false;
  }
  return true;
}

bool TraceWriter::begin_segment(uint64_t checkpoint_bytes) {
  if (!bounded() || !active() || finished_.load(std::memory_order_acquire)) return false;
  uint32_t gen = gen_.load(std::memory_order_acquire);
  if (gen >= kGenTop - 1) return false;
  if (segs_[slot(gen - 1)].file) {
    drop_segment(slot(gen - 1));
    auto* header = reinterpret_cast<trace::FileHeader*>(current_base());
    __atomic_fetch_or(&header->segment_flags, trace::kSegmentPreviousDropped, __ATOMIC_RELEASE);
  }
  int next = slot(gen + 1);
  if (!open_segment_file(next, gen + 1)) {
    warn("cannot create trace segment %s; the trace goes on in the current one until it is full", segs_[next].path);
    return false;
  }
  trace::FileHeader header = header_;
  header.segment = gen + 1;
  memcpy(bases_[next], &header, sizeof(header));
  next_used_ = sizeof(trace::FileHeader);
  // All of the checkpoint's room now: once it is being written, the
  // Refs the shim keeps move into this segment, and it must not fail then.
  if (!ensure_allocated(next, next_used_ + checkpoint_bytes + sizeof(trace::RecordHeader) + kFinalReserve)) {
    abandon_segment();
    return false;
  }
  return true;
}

void* TraceWriter::reserve_next(size_t size) {
  size = trace::align_record(size);
  int next = slot(gen_.load(std::memory_order_acquire) + 1);
  uint64_t needed = next_used_ + size + sizeof(trace::RecordHeader) + kFinalReserve;
  if (!ensure_allocated(next, needed)) return nullptr;
  auto* header = reinterpret_cast<trace::RecordHeader*>(bases_[next] + next_used_);
  header->size = uint16_t(size);
  header->fd = -1;
  next_used_ += size;
  return header;
}

TraceWriter::Ref TraceWriter::next_ref_of(const void* record) const {
  const char* base = bases_[slot(gen_.load(std::memory_order_acquire) + 1)];
  return Ref(uint64_t(static_cast<const char*>(record) - base) / trace::kRecordAlign);
}

void TraceWriter::switch_segment() {
  uint32_t gen = gen_.load(std::memory_order_acquire) + 1;
  int next = slot(gen);
  // Publish the new generation before its limit and its counter: a
  // reservation in the old one then fails the hot path's compare and finds,
  // in the slow path, that it is late.
  gen_.store(gen, std::memory_order_release);
  allocated_.store(tag_of(gen) | segs_[next].allocated.load(std::memory_order_acquire), std::memory_order_release);
  used_.store(tag_of(gen) | next_used_, std::memory_order_release);
  update_last_segment(gen);
}

void TraceWriter::abandon_segment() {
  int next = slot(gen_.load(std::memory_order_acquire) + 1);
  Segment& seg = segs_[next];
  if (!seg.file) return;
  munmap(bases_[next], seg.capacity);
  bases_[next] = nullptr;
  unlink(seg.path);
  seg.file = false;
}

}  // namespace connleak::shim
