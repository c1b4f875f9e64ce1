// Checkpoints of bounded traces in the replay (trace_format.h,
// CheckpointBegin). The image's first segment read starts with one, unless
// it is the image's first segment: its records rebuild the sockets and
// sessions open then, as ordinary records do (with their original times,
// stacks and peers), and its counts stand for the history it summarizes. A
// later segment's checkpoint repeats what the records before it said; only
// its I/O counters are news (they go on counting there).
#include "model/replay.h"

namespace connleak::detail {

using trace::RecordType;

void Replay::dispatch(const RecordView& r) {
  switch (r.type()) {
    case RecordType::kCheckpointBegin: return on_checkpoint_begin(r.as<trace::CheckpointBegin>());
    case RecordType::kCheckpointEnd:
      checkpoint_ = CheckpointMode::kNone;
      return;
    default: break;
  }
  switch (checkpoint_) {
    case CheckpointMode::kNone: return apply(r);
    case CheckpointMode::kApply: return apply_checkpoint_record(r);
    case CheckpointMode::kSkip: return skip_checkpoint_record(r);
  }
}

// A fork child's own checkpoint stands in for its parent's state at the
// fork only when that state could not be had (inherit() was not called).
void Replay::on_checkpoint_begin(const trace::CheckpointBegin& rec) {
  fork_start_checkpoint_ = rec.flags & trace::kCheckpointForkStart;
  bool use = first_segment_ && !(fork_start_checkpoint_ && inherited_);
  checkpoint_ = use ? CheckpointMode::kApply : CheckpointMode::kSkip;
  counters_restarted_.clear();
  if (!use || fork_start_checkpoint_) return;
  note_time(rec.ts);
  model_.sockets_opened += rec.sockets_opened;
  model_.sessions_summarized += rec.sessions_created;
  proc().summarized_before_mono_ns = rec.ts;
  proc().closed_sockets_summarized = rec.sockets_closed;
}

void Replay::apply_checkpoint_record(const RecordView& r) {
  switch (r.type()) {
    case RecordType::kSiteCounters: return on_site_counters(r);
    case RecordType::kSessionState: return on_session_state(r.as<trace::SessionState>());
    default: break;
  }
  apply(r);
  // A copy this image got from its fork parent: its parent's, until used.
  auto type = r.type();
  const auto& h = r.as<trace::RecordHeader>();
  if ((type != RecordType::kSocketOpen && type != RecordType::kAccept && type != RecordType::kInheritedFd) ||
      !(h.flags & trace::kFlagForkCopy))
    return;
  auto it = fds_.find(h.fd);
  if (it == fds_.end()) return;
  SocketLife& s = sock(it->second.socket);
  s.inherited = s.shared = true;
  s.used = false;
  s.opened_mono_ns = std::min(s.opened_mono_ns, proc().start_mono_ns);
}

// The socket's counters go on in this segment, from where the record read
// before had them: the first record per socket replaces its counts, any
// further one (another fd's) adds to them.
void Replay::skip_checkpoint_record(const RecordView& r) {
  if (r.type() != RecordType::kIoCounters) return;
  const auto& rec = r.as<trace::IoCounters>();
  auto it = fds_.find(rec.h.fd);
  if (it == fds_.end()) return;
  SocketLife& s = sock(it->second.socket);
  if (counters_restarted_.insert(it->second.socket).second) s.bytes_sent = s.bytes_received = 0;
  if (!(rec.h.flags & trace::kFlagCarriedOver) || rec.last_io_ns) s.used = true;
  on_io_counters(rec);
}

// The site's counts at earlier checkpoints and now seed its history: growth
// over the summarized minutes is still there to judge.
void Replay::on_site_counters(const RecordView& r) {
  const auto& rec = r.as<trace::SiteCounters>();
  bool sessions = rec.what != trace::kSiteSockets;
  std::string api;
  if (sessions) {
    // Named as the checkpoint's live sessions of the site named it (a user
    // session's kind is in its SessionBegin), else by its API.
    for (const auto& [key, index] : sites_)
      if (std::get<0>(key) == rec.stack_id && std::get<1>(key)) api = std::get<2>(key);
    if (api.empty()) api = session_api_name(trace::SessionApi(rec.what), "");
  }
  SiteHistory& site = model_.sites[size_t(site_for({process_, rec.stack_id}, sessions, api))];
  seed_site_history(site, reinterpret_cast<const trace::SitePoint*>(&rec + 1), rec.points,
                    {proc().summarized_before_mono_ns, rec.opened, rec.closed});
}

void Replay::on_session_state(const trace::SessionState& rec) {
  auto it = live_sessions_.find(rec.handle);
  if (it == live_sessions_.end()) return;
  SessionLife& s = model_.sessions[size_t(it->second)];
  s.completed_transfers = rec.transfers;
  s.last_transfer_mono_ns = rec.last_transfer_ns;
  s.references = rec.references;
  // The model counts a connection at the outermost session.
  model_.sessions[size_t(model_.root_session(it->second))].connections_opened += rec.connections;
}

void seed_site_history(SiteHistory& site, const trace::SitePoint* points, uint32_t count, const SitePoint& now) {
  SitePoint before{};
  auto add = [&](uint64_t ts, uint64_t opened, uint64_t closed) {
    if (opened < before.opened || closed < before.closed) return;  // not cumulative: damaged
    site.record(ts, opened - before.opened, closed - before.closed);
    before = {ts, opened, closed};
  };
  before = {0, site.opened(), site.closed()};
  for (uint32_t i = 0; i < count; ++i) add(points[i].ts, points[i].opened, points[i].closed);
  add(now.mono_ns, now.opened, now.closed);
}

}  // namespace connleak::detail
