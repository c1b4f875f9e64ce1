// Checkpoints of a bounded trace: everything the image holds open, written
// at the head of a new segment so that the older ones can go (see
// trace_format.h, CheckpointBegin). The shim keeps, per fd and per session,
// where the records that describe them are in the current segment
// (FdSlot::records, SessionSlot::begin_ref), and per stack id where its
// Stack record is (SiteTable): a checkpoint copies those records verbatim,
// so nothing but a few offsets is kept in memory and the hot paths pay one
// store each. Only counters the shim keeps anyway (sites, session state)
// are written afresh.
//
// A rotation runs with the fork gate closed: no fd or session call is
// between its system call and its record, so the tables and the records
// agree. It first measures the checkpoint (a dry run that writes into a
// scratch buffer and commits nothing), then allocates that much in the new
// segment, so the real run cannot fail half-way with some of the kept
// offsets already pointing into a segment that is then given up.
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "checkpoint.h"
#include "scratch_map.h"
#include "shim_log.h"

namespace connleak::shim {

using trace::RecordHeader;
using trace::RecordType;
using Ref = TraceWriter::Ref;

bool Tracker::write_checkpoint(Checkpoint& c, uint32_t flags) {
  uint64_t ts = now_ns();
  auto* begin = c.reserve<trace::CheckpointBegin>();
  if (!begin) return false;
  begin->ts = ts;
  begin->segment = c.into_next ? writer_.segment() + 1 : writer_.segment();
  begin->flags = flags;
  begin->sockets_opened = begin->sockets_closed = begin->sessions_created = begin->sessions_ended = 0;
  for (uint32_t id = 0; id < sites_.end(); ++id) {
    const SiteEntry* e = sites_.find(id);
    if (!e) continue;
    begin->sockets_opened += e->sockets_opened.load(std::memory_order_relaxed);
    begin->sockets_closed += e->sockets_closed.load(std::memory_order_relaxed);
    begin->sessions_created += e->sessions_opened.load(std::memory_order_relaxed);
    begin->sessions_ended += e->sessions_closed.load(std::memory_order_relaxed);
  }
  c.publish(begin, RecordType::kCheckpointBegin);
  carry_process(c);
  carry_sessions(c);
  // After the sessions: a reader names a session site by its sessions' kind.
  if (!(flags & trace::kCheckpointForkStart)) carry_sites(c, ts);
  carry_sockets(c);
  auto* end = c.reserve<trace::CheckpointEnd>();
  if (!end) return false;
  end->ts = ts;
  c.publish(end, RecordType::kCheckpointEnd);
  if (!c.measuring && c.incomplete && writer_.bounded()) {
    lost_[uint32_t(trace::LostReason::kCheckpointIncomplete)].fetch_add(c.incomplete, std::memory_order_relaxed);
  }
  return !c.out_of_room;
}

// The command line (a fork child wrote its own), the modules and every
// stack: later records refer to stacks by id, whenever they were written.
void Tracker::carry_process(Checkpoint& c) {
  if (c.into_next) c.commit(process_info_ref_, c.carry(process_info_ref_, RecordType::kProcessInfo));
  modules_.for_each_record([&](uint32_t& ref) { c.commit(ref, c.carry(ref, RecordType::kModule)); });
  for (uint32_t id = 0; id < sites_.end(); ++id) {
    SiteEntry* e = sites_.entry(id);
    uint32_t ref = e ? e->stack_ref.load(std::memory_order_acquire) : 0;
    if (!ref) continue;
    Ref moved = c.carry(ref, RecordType::kStack);
    if (!c.measuring) e->stack_ref.store(moved, std::memory_order_release);
  }
}

namespace {

// The last checkpoint's SiteCounters records, walked in the order they were
// written (stack id, sockets before sessions) alongside the new ones.
struct SiteHistoryCursor {
  const char* source;
  uint64_t source_size;
  uint64_t offset;
  uint32_t left;

  const trace::SiteCounters* at() const {
    if (!left || offset + sizeof(trace::SiteCounters) > source_size) return nullptr;
    auto* r = reinterpret_cast<const trace::SiteCounters*>(source + offset);
    return r->h.type == uint8_t(RecordType::kSiteCounters) ? r : nullptr;
  }
  static uint64_t key(uint32_t id, uint16_t what) { return uint64_t(id) << 17 | (what == trace::kSiteSockets ? 0 : 1); }
  // The previous record of (id, what), if any.
  const trace::SiteCounters* find(uint32_t id, uint16_t what) {
    for (const trace::SiteCounters* r; (r = at()) && key(r->stack_id, r->what) <= key(id, what);) {
      offset += r->h.size;
      --left;
      if (key(r->stack_id, r->what) == key(id, what)) return r;
    }
    return nullptr;
  }
};

}  // namespace

// Per site, the counts since the image started and, from the last
// checkpoint's record, the counts at up to kSiteHistory earlier ones.
void Tracker::carry_sites(Checkpoint& c, uint64_t ts) {
  SiteHistoryCursor previous{c.source, c.source_size, uint64_t(last_sites_ref_) * trace::kRecordAlign,
                             last_sites_ref_ ? last_sites_count_ : 0};
  Ref first = 0;
  uint32_t count = 0;
  auto write = [&](uint32_t id, uint16_t what, uint64_t opened, uint64_t closed) {
    const trace::SiteCounters* before = previous.find(id, what);
    uint32_t kept = before ? std::min<uint32_t>(before->points, trace::kSiteHistory - 1) : 0;
    uint32_t points = before ? kept + 1 : 0;
    auto* r = c.reserve<trace::SiteCounters>(sizeof(trace::SitePoint) * points);
    if (!r) return;
    r->stack_id = id;
    r->what = what;
    r->points = uint16_t(points);
    r->opened = opened;
    r->closed = closed;
    auto* history = reinterpret_cast<trace::SitePoint*>(r + 1);
    if (before) {
      auto* old = reinterpret_cast<const trace::SitePoint*>(before + 1);
      memcpy(history, old + (before->points - kept), sizeof(trace::SitePoint) * kept);
      history[kept] = {last_checkpoint_ts_, before->opened, before->closed};
    }
    c.publish(r, RecordType::kSiteCounters);
    if (!first) first = c.ref_of(r);
    ++count;
  };
  for (uint32_t id = 0; id < sites_.end(); ++id) {
    const SiteEntry* e = sites_.find(id);
    if (!e) continue;
    uint64_t opened = e->sockets_opened.load(std::memory_order_relaxed);
    uint64_t closed = e->sockets_closed.load(std::memory_order_relaxed);
    if (opened || closed) write(id, trace::kSiteSockets, opened, closed);
    opened = e->sessions_opened.load(std::memory_order_relaxed);
    closed = e->sessions_closed.load(std::memory_order_relaxed);
    uint16_t api = e->session_api.load(std::memory_order_relaxed);
    if ((opened || closed) && api) write(id, uint16_t(api - 1), opened, closed);
  }
  c.commit(last_sites_ref_, first);
  c.commit(last_sites_count_, count);
  c.commit(last_checkpoint_ts_, ts);
}

// Live sessions in the order they began (parents before the sessions made
// inside their calls), each with its state.
void Tracker::carry_sessions(Checkpoint& c) {
  uint32_t live = 0;
  sessions_.for_each_live([&](SessionSlot&) { ++live; });
  if (!live) return;
  ScratchArray<SessionSlot*> order;
  if (!order.reserve(live)) return void(c.incomplete += live);
  SessionSlot** slots = order.data();
  uint32_t n = 0;
  sessions_.for_each_live([&](SessionSlot& slot) {
    if (n < live) slots[n++] = &slot;
  });
  std::sort(slots, slots + n, [](SessionSlot* a, SessionSlot* b) { return a->begin_ref < b->begin_ref; });
  for (uint32_t i = 0; i < n; ++i) {
    SessionSlot& s = *slots[i];
    Ref begin = c.carry(s.begin_ref, RecordType::kSessionBegin);
    if (!begin && !c.measuring) {
      ++c.incomplete;
      continue;
    }
    c.commit(s.begin_ref, begin);
    auto* state = c.reserve<trace::SessionState>();
    if (!state) return;
    state->handle = s.handle.load(std::memory_order_relaxed);
    state->transfers = s.transfers;
    state->last_transfer_ns = s.last_transfer_ns;
    state->multi = s.multi;
    state->connections = s.connections;
    state->references = s.references;
    state->api = s.api;
    state->reserved = 0;
    c.publish(state, RecordType::kSessionState);
  }
}

}  // namespace connleak::shim
