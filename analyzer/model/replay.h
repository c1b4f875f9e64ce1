// Replays one trace file into the lifetime model, record by record: the
// fd table of the process, its sockets and sessions, how it ended. Used by
// build_model (model.cpp), which links the processes together.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "model/model.h"
#include "trace/trace_reader.h"

namespace connleak::detail {

struct FdRef {
  int socket = -1;
  bool cloexec = false;
};
using FdMap = std::map<int, FdRef>;

// What a fork child starts with: copies of its parent's sockets and live
// sessions as they were at the Fork record (the parent's own go on changing,
// and their slots are reused once closed).
struct ForkState {
  std::vector<SocketLife> sockets;
  FdMap fds;  // fd -> index into `sockets`
  std::vector<SessionLife> sessions;
  std::map<uint64_t, int> live_sessions;  // handle -> index into `sessions`
  // For a child that lists the fds it really holds (ForkFds): sockets its
  // parent recorded after the Fork record, made by a call that was in flight
  // at the fork; the first one at each fd.
  std::map<int, std::pair<SocketLife, bool>> made_after;  // fd -> (socket, cloexec)
};

// A Fork record: the parent's trace name and the record's offset. A fork
// child's trace header names it.
using ForkKey = std::pair<std::string, uint64_t>;

struct ForkRegistry {
  // The forks a child trace names, with the fds that child says it holds
  // (nullopt: it did not need to say, the Fork record is exact).
  std::map<ForkKey, std::optional<std::set<int>>> wanted;
  std::map<ForkKey, ForkState> captured;  // until the child is replayed
  std::set<ForkKey> seen;                 // every Fork record that must have a child trace
  // Following traces as they grow (watch): a child's trace may appear after
  // its parent's Fork record was read, so every fork is captured.
  bool capture_every_fork = false;
};

// "curl_easy", ..., "user:<kind>".
std::string session_api_name(trace::SessionApi api, const std::string& kind);

// A site's history from a checkpoint (trace::SiteCounters): its counts at
// earlier checkpoints (`points`, oldest first) and at the checkpoint itself
// (`now`), added to `site` as cumulative points.
void seed_site_history(SiteHistory& site, const trace::SitePoint* points, uint32_t count, const SitePoint& now);

// A process as its trace's header describes it (no records read yet).
ProcessLife process_from_header(const trace::FileHeader& header, const std::string& trace_name);
// A fork child's parent trace (file name), from its header.
std::string parent_name(const trace::FileHeader& header);

// Replays one trace into the model.
class Replay {
 public:
  Replay(Model& model, int process, ForkRegistry& forks) : model_(model), process_(process), forks_(forks) {}

  // A fork child: starts with its own copies of what its parent held.
  void inherit(ForkState state);

  // Replays an image's segments, oldest first (trace_segments.h): the
  // first one's checkpoint rebuilds the state it summarizes; a later one's
  // only moves the I/O counters on (replay_checkpoint.cpp).
  void run(const std::vector<const TraceFile*>& segments) {
    for (size_t i = 0; i < segments.size(); ++i) {
      first_segment_ = i == 0;
      segments[i]->for_each_record([&](const RecordView& record) { dispatch(record); });
    }
    finish();
  }
  void run(const TraceFile& trace) { run(std::vector<const TraceFile*>{&trace}); }

  // One record of the image's trace, in file order (run() calls it; so
  // does LiveTraces, which follows a trace as it grows and shows the model
  // as of its last record, without finish()).
  void dispatch(const RecordView& r);
  // The trace has its end record (exit) or its image exec'd away.
  bool ended() const { return end_ts_.has_value() || exec_pending_; }
  bool exited() const { return end_ts_.has_value(); }
  // The records that follow are the image's next segment (bounded traces):
  // its checkpoint only moves the I/O counters on.
  void next_segment() { first_segment_ = false; }


 private:
  ProcessLife& proc() { return model_.processes[size_t(process_)]; }
  SocketLife& sock(int index) { return model_.sockets[size_t(index)]; }

  // Checkpoints: kApply rebuilds the state they hold, kSkip passes over
  // what the records before them said already.
  enum class CheckpointMode { kNone, kApply, kSkip };

  void on_checkpoint_begin(const trace::CheckpointBegin& rec);
  void apply_checkpoint_record(const RecordView& r);
  void skip_checkpoint_record(const RecordView& r);
  void on_site_counters(const RecordView& r);
  void on_session_state(const trace::SessionState& rec);
  void apply(const RecordView& r);
  void on_process_info(const RecordView& r);
  void on_module(const RecordView& r);
  void on_stack(const RecordView& r);
  int open_socket(int fd, uint64_t ts, bool cloexec);
  void release_fd(int fd, uint64_t ts);
  void finish();
  void note_time(uint64_t ts) { last_ts_ = std::max(last_ts_, ts); }
  void on_io_counters(const trace::IoCounters& rec, uint64_t offset = 0);
  void recycle(int socket);
  void on_session_begin(const RecordView& r);
  void on_session_event(const trace::SessionEvent& rec);
  void on_inherited_fd(const RecordView& r);
  void on_fork(const RecordView& r);
  ForkState capture() const;
  void watch_after_fork(ForkState& state, const std::set<int>& listed);
  void note_made_after_fork(int fd, int socket);
  void on_fork_fds(const RecordView& r);
  void note_release(int socket, uint64_t ts);
  void note_use(int fd);
  int adopt(SocketLife copy);
  int place_socket(SocketLife s);
  // Creation sites (Model::sites): sockets and sessions count where they were made.
  int site_for(const StackRef& stack, bool sessions, const std::string& api);
  void count_opened(int socket, uint64_t ts);
  void count_closed(int socket, uint64_t ts);

  Model& model_;
  int process_;
  FdMap fds_;
  ForkRegistry& forks_;
  // Captured fork states still looking for sockets made after their fork
  // (see ForkState::made_after): fds still looked for.
  std::vector<std::pair<ForkState*, std::set<int>>> watching_;
  std::map<int, std::pair<SocketLife, bool>> made_after_fork_;  // a fork child's, from its ForkState
  uint64_t last_ts_ = 0;
  bool exec_pending_ = false;
  uint64_t exec_ts_ = 0;
  std::optional<uint64_t> end_ts_;
  std::set<int> confirmed_;  // sockets the exit check found still open
  std::map<int, int> last_closed_at_;     // fd -> the socket it last held
  std::map<uint64_t, int> pending_pass_on_;  // for the next exec or spawn
  std::map<uint64_t, int> live_sessions_;    // handle -> session index
  std::map<std::tuple<uint32_t, bool, std::string>, int> sites_;  // (stack id, sessions, api) -> site
  CheckpointMode checkpoint_ = CheckpointMode::kNone;
  bool fork_start_checkpoint_ = false;  // the one being applied is a fork child's
  bool first_segment_ = true;
  bool inherited_ = false;              // inherit() gave it its parent's state
  std::set<int> counters_restarted_;    // sockets a skipped checkpoint's counters replaced
};


}  // namespace connleak::detail
