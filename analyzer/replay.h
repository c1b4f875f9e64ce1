// Replays one trace file into the lifetime model, record by record: the
// fd table of the process, its sockets and sessions, how it ended. Used by
// build_model (model.cpp), which links the processes together.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "model.h"
#include "trace_reader.h"

namespace connleak::detail {

struct FdRef {
  int socket = -1;
  bool cloexec = false;
};
using FdMap = std::map<int, FdRef>;

// Fork snapshots: the fd table of a parent at its Fork record, by (trace
// name, record offset); a fork child starts from it.
using ForkSnapshots = std::map<std::pair<std::string, uint64_t>, FdMap>;

// Replays one trace into the model.
class Replay {
 public:
  Replay(Model& model, int process, FdMap inherited, ForkSnapshots& fork_snapshots)
      : model_(model), process_(process), fds_(std::move(inherited)), snapshots_(fork_snapshots) {}

  void run(const TraceFile& trace) {
    trace.for_each_record([&](const RecordView& record) { apply(record, trace); });
    finish();
  }

 private:
  ProcessLife& proc() { return model_.processes[size_t(process_)]; }
  SocketLife& sock(int index) { return model_.sockets[size_t(index)]; }

  void apply(const RecordView& r, const TraceFile& trace);
  void on_process_info(const RecordView& r);
  void on_module(const RecordView& r);
  void on_stack(const RecordView& r);
  int open_socket(int fd, uint64_t ts, bool cloexec);
  void release_fd(int fd, uint64_t ts);
  void finish();
  void note_time(uint64_t ts) { last_ts_ = std::max(last_ts_, ts); }
  void on_io_counters(const trace::IoCounters& rec);
  void recycle(int socket);
  void on_session_begin(const RecordView& r);
  void on_session_event(const trace::SessionEvent& rec);
  void on_inherited_fd(const RecordView& r);

  Model& model_;
  int process_;
  FdMap fds_;
  ForkSnapshots& snapshots_;
  uint64_t last_ts_ = 0;
  bool exec_pending_ = false;
  uint64_t exec_ts_ = 0;
  std::optional<uint64_t> end_ts_;
  std::set<int> confirmed_;  // sockets the exit check found still open
  std::map<int, int> last_closed_at_;     // fd -> the socket it last held
  std::map<uint64_t, int> pending_pass_on_;  // for the next exec or spawn
  std::map<uint64_t, int> live_sessions_;    // handle -> session index
};


}  // namespace connleak::detail
