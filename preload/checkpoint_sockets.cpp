// A checkpoint's sockets, and the two kinds of checkpoint: a rotation's
// and a bounded fork child's first one (see checkpoint.cpp).
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "scratch_map.h"
#include "shim_log.h"

namespace connleak::shim {
namespace {

using trace::RecordHeader;
using trace::RecordType;
using Ref = TraceWriter::Ref;

// The fds of one socket share its open record (dup copies the Refs): one
// group per socket, with the newest of each kind of record among its fds.
struct SocketGroup {
  int first_fd;
  uint32_t newest[kSocketRecords];
  uint32_t moved[kSocketRecords];
};

constexpr RecordType kRecordType[kSocketRecords] = {
    RecordType::kSocketOpen, RecordType::kConnect,     RecordType::kBind,        RecordType::kListen,
    RecordType::kShutdown,   RecordType::kSocketOwner, RecordType::kSocketInode,
};

}  // namespace

namespace {

// The socket's open record (SocketOpen, Accept or InheritedFd) at `fd`, with
// its close-on-exec flag as it is now and whether this image only got a
// copy of it from its fork parent.
Ref carry_open(Tracker::Checkpoint& c, int fd, const FdSlot& slot, Ref ref) {
  const RecordHeader* from =
      c.kept(ref, {RecordType::kSocketOpen, RecordType::kAccept, RecordType::kInheritedFd});
  if (!from) return 0;
  RecordType type = RecordType(from->type);
  RecordHeader* to = c.copy(from);
  if (!to) return 0;
  uint32_t flags = slot.flags.load(std::memory_order_relaxed);
  to->fd = fd;
  to->flags = uint8_t((to->flags & ~trace::kFlagCloexec) | (flags & FdTable::kCloexec ? trace::kFlagCloexec : 0));
  if (flags & FdTable::kForkCopy) to->flags |= trace::kFlagForkCopy;
  c.publish(to, type);
  return c.ref_of(to);
}

// A socket other processes may hold gets its inode, so the analyzer can
// join the copies when the records that linked them are gone.
Ref write_inode(Tracker::Checkpoint& c, int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  auto* r = c.reserve<trace::SocketInode>();
  if (!r) return 0;
  r->h.fd = fd;
  r->inode = st.st_ino;
  c.publish(r, RecordType::kSocketInode);
  return c.ref_of(r);
}

void carry_socket(Tracker::Checkpoint& c, int fd, const FdSlot& slot, SocketGroup& g) {
  g.moved[kOpenRecord] = carry_open(c, fd, slot, g.newest[kOpenRecord]);
  for (int kind = kConnectRecord; kind < kSocketRecords; ++kind)
    g.moved[kind] = c.carry(g.newest[kind], kRecordType[kind], fd);
  if (!g.moved[kInodeRecord] && (slot.flags.load(std::memory_order_relaxed) & FdTable::kShared))
    g.moved[kInodeRecord] = write_inode(c, fd);
}

void write_dup(Tracker::Checkpoint& c, int old_fd, int fd, const FdSlot& slot) {
  auto* r = c.reserve<trace::Dup>();
  if (!r) return;
  r->h.fd = fd;
  r->h.flags = slot.flags.load(std::memory_order_relaxed) & FdTable::kCloexec ? trace::kFlagCloexec : 0;
  r->ts = 0;  // not an event: the checkpoint's time stands
  r->old_fd = old_fd;
  r->via = uint16_t(trace::DupVia::kDup);
  r->reserved = 0;
  c.publish(r, RecordType::kDup);
}

// The counters live on in the new segment: the old record stops counting.
// Bytes another thread adds to the old one between this copy and its next
// I/O (which finds the new one) are lost: a few bytes, at most one call's.
trace::IoCounters* carry_counters(Tracker::Checkpoint& c, int fd, const trace::IoCounters* from) {
  auto* r = c.reserve<trace::IoCounters>();
  if (!r) return nullptr;
  r->h.fd = fd;
  r->h.flags = from->h.flags;
  r->bytes_sent = __atomic_load_n(&from->bytes_sent, __ATOMIC_RELAXED);
  r->bytes_received = __atomic_load_n(&from->bytes_received, __ATOMIC_RELAXED);
  r->last_io_ns = __atomic_load_n(&from->last_io_ns, __ATOMIC_RELAXED);
  c.publish(r, RecordType::kIoCounters);
  return r;
}

}  // namespace

void Tracker::carry_sockets(Checkpoint& c) {
  size_t tracked = 0;
  fds_.for_each_tracked([&](int, FdSlot&) { ++tracked; });
  if (!tracked) return;
  ScratchMap<SocketGroup> groups;
  ScratchMap<trace::IoCounters*> counters;  // old record -> its copy
  if (!groups.reserve(tracked) || !counters.reserve(tracked)) return void(c.incomplete += tracked);
  fds_.for_each_tracked([&](int fd, FdSlot& slot) {
    if (!slot.records[kOpenRecord]) return;
    bool added = false;
    SocketGroup* g = groups.get(slot.records[kOpenRecord], &added);
    if (added) g->first_fd = fd;
    for (int kind = 0; kind < kSocketRecords; ++kind) g->newest[kind] = std::max(g->newest[kind], slot.records[kind]);
  });
  // A fork child's counters follow the checkpoint (move_counters_into_child_trace).
  bool with_counters = c.into_next;
  fds_.for_each_tracked([&](int fd, FdSlot& slot) {
    if (!slot.records[kOpenRecord]) return void(++c.incomplete);  // made while its record could not be written
    SocketGroup* g = groups.get(slot.records[kOpenRecord]);
    if (g->first_fd == fd) {
      carry_socket(c, fd, slot, *g);
    } else {
      write_dup(c, g->first_fd, fd, slot);
    }
    for (int kind = 0; kind < kSocketRecords; ++kind) c.commit(slot.records[kind], g->moved[kind]);
    trace::IoCounters* old = slot.counters.load(std::memory_order_acquire);
    if (!old || !with_counters) return;
    bool added = false;
    trace::IoCounters** moved = counters.get(reinterpret_cast<uint64_t>(old), &added);
    if (added) *moved = carry_counters(c, fd, old);
    if (!c.measuring && *moved) slot.counters.store(*moved, std::memory_order_release);
  });
}

bool Tracker::rotate() {
  // Not for a vfork child, which shares this memory with its parent.
  if (!active() || ended_.load(std::memory_order_acquire) || getpid() != pid_) return true;
  if (!writer_.rotation_due()) return true;
  Checkpoint measure{writer_, true, true, writer_.current_base(), writer_.current_allocated()};
  write_checkpoint(measure, 0);
  if (measure.bytes > writer_.checkpoint_room()) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
      warn("the open sockets and sessions (a checkpoint of %d bytes) do not fit CONNLEAK_MAX_TRACE_SIZE; "
           "the trace stops growing when full", nullptr, int64_t(measure.bytes));
    return false;
  }
  if (!writer_.begin_segment(measure.bytes)) return false;
  Checkpoint c{writer_, true, false, writer_.current_base(), writer_.current_allocated()};
  write_checkpoint(c, 0);
  writer_.switch_segment();
  return true;
}

void Tracker::write_fork_checkpoint(const TraceWriter::Detached& parent) {
  Checkpoint c{writer_, false, false, parent.bases[parent.current], parent.allocated[parent.current]};
  write_checkpoint(c, trace::kCheckpointForkStart);
}

}  // namespace connleak::shim
