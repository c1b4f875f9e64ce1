#include "report/timeline_builder.h"

#include <algorithm>
#include <map>

#include "report/report_builder.h"

namespace connleak {
namespace {

// Symbolizes each distinct stack once: 10 k connections from one loop share
// one stack.
class StackTable {
 public:
  StackTable(const Model& model, Symbolizer& symbolizer, Timeline& timeline)
      : model_(model), symbolizer_(symbolizer), timeline_(timeline) {}

  int index_of(const StackRef& ref) {
    if (!ref.id || !model_.stack(ref)) return -1;
    auto [it, fresh] = by_key_.try_emplace(model_.stack_key(ref), int(timeline_.stacks.size()));
    if (fresh) timeline_.stacks.push_back(symbolize_stack(model_, ref, symbolizer_));
    return it->second;
  }

 private:
  const Model& model_;
  Symbolizer& symbolizer_;
  Timeline& timeline_;
  std::map<std::string, int> by_key_;
};

// The fork of `p`'s pid whose child made no trace (Model::lazy_forks): the
// latest before `p` started; nullptr if none.
const LazyFork* lazy_fork_of(const Model& model, const ProcessLife& p) {
  const LazyFork* found = nullptr;
  for (const LazyFork& f : model.lazy_forks)
    if (f.child_pid == p.pid && f.at <= p.start_mono_ns && (!found || f.at > found->at)) found = &f;
  return found;
}

// Where an image sits in the process tree: under its fork parent, under the
// image it was exec'd from, or under the traced image of its parent pid that
// was running when it started (a posix_spawn()ed or untraced-fork child).
void link_process_tree(const Model& model, Timeline& timeline) {
  for (size_t i = 0; i < model.processes.size(); ++i) {
    const ProcessLife& p = model.processes[i];
    TimelineProcess& t = timeline.processes[i];
    if (p.parent >= 0) {
      t.parent = p.parent;
      t.origin = "fork";
      continue;
    }
    int exec_from = -1, spawned_by = -1;
    for (size_t j = 0; j < model.processes.size(); ++j) {
      const ProcessLife& q = model.processes[j];
      // Only earlier images (by start, then index): the tree has no cycles.
      if (j == i || q.start_mono_ns > p.start_mono_ns || (q.start_mono_ns == p.start_mono_ns && j > i)) continue;
      auto later = [&](int k) { return k < 0 || q.start_mono_ns >= model.processes[size_t(k)].start_mono_ns; };
      if (q.pid == p.pid && q.end == ProcessEnd::kExec && later(exec_from)) exec_from = int(j);
      if (q.pid == p.ppid && q.end_mono_ns >= p.start_mono_ns && later(spawned_by)) spawned_by = int(j);
    }
    // The first image of a fork child that made no trace: under its forker,
    // unless an image of the pid exec'd since the fork (that one is its own).
    const LazyFork* fork = lazy_fork_of(model, p);
    if (fork && (exec_from < 0 || model.processes[size_t(exec_from)].start_mono_ns < fork->at)) {
      t.parent = fork->parent;
      t.origin = "fork";
    } else if (exec_from >= 0) {
      t.parent = exec_from;
      t.origin = "exec";
    } else if (spawned_by >= 0) {
      t.parent = spawned_by;
      t.origin = "spawn";
    }
  }
}

std::string how_socket_ended(const Model& model, const SocketLife& s) {
  switch (s.end) {
    case SocketEnd::kClosed: return "closed";
    case SocketEnd::kClosedAtExec: return "closed at exec (close-on-exec)";
    case SocketEnd::kPassedOnAtExec: return "passed on at exec";
    case SocketEnd::kClosedUnseen: return "closed where the shim could not see";
    case SocketEnd::kHeldElsewhere:
      return "still held by pid " + std::to_string(model.processes[size_t(s.held_on_by)].pid);
    case SocketEnd::kOpen: break;
  }
  return model.processes[size_t(s.process)].end == ProcessEnd::kRunning ? "open (process running)"
                                                                          : "open when its process ended";
}

class Builder {
 public:
  Builder(const Model& model, Symbolizer& symbolizer, Timeline& timeline)
      : model_(model), timeline_(timeline), stacks_(model, symbolizer, timeline) {}

  void add_processes() {
    for (const auto& p : model_.processes) origin_ = std::min(origin_, p.start_mono_ns);
    if (model_.processes.empty()) origin_ = 0;
    for (const auto& p : model_.processes) {
      TimelineProcess t;
      t.pid = p.pid;
      t.ppid = p.ppid;
      t.exe = p.exe;
      t.argv = p.argv;
      t.start = at(p.start_mono_ns);
      t.end = std::max(t.start, at(p.end_mono_ns));
      t.end_kind = process_end_name(p.end);
      t.exit_status = p.exit_status;
      t.signal = p.signal;
      if (p.summarized_before_mono_ns) t.summarized_before = at(p.summarized_before_mono_ns);
      timeline_.span = std::max(timeline_.span, t.end);
      timeline_.processes.push_back(std::move(t));
    }
    if (!model_.processes.empty()) timeline_.origin_real_ns = model_.processes.front().to_real_ns(origin_);
    link_process_tree(model_, timeline_);
  }

  void add_sessions() {
    for (size_t i = 0; i < model_.sessions.size(); ++i) {
      const SessionLife& s = model_.sessions[i];
      // A library's own session inside another's call is drawn as part of
      // that one; a fork child's copy only when a finding names it.
      if (s.parent >= 0 || s.inherited) continue;
      session_bar_[int(i)] = add_session(s);
    }
  }

  void add_sockets() {
    for (const SocketLife& s : model_.closed) add_socket(s);
    for (size_t i = 0; i < model_.sockets.size(); ++i) {
      const SocketLife& s = model_.sockets[i];
      if (s.recycled || !s.used) continue;
      socket_bar_[int(i)] = add_socket(s);
    }
    timeline_.bars_not_kept = model_.closed_not_kept;
  }

  // The bars the findings name, also objects not drawn so far (a fork
  // child's copy of a session).
  void mark_findings(const Report& report) {
    for (size_t f = 0; f < report.findings.size(); ++f) {
      for (const LeakInstance& i : report.findings[f].instances) {
        int bar = -1;
        if (i.model_socket >= 0) bar = socket_bar(i.model_socket);
        if (i.model_session >= 0) bar = session_bar(i.model_session);
        if (bar < 0 || !timeline_.bars[size_t(bar)].finding.empty()) continue;
        timeline_.bars[size_t(bar)].finding = report.findings[f].kind;
        timeline_.bars[size_t(bar)].finding_index = int(f);
      }
    }
  }

  void add_marks() {
    for (size_t i = 0; i < model_.processes.size(); ++i) {
      const ProcessLife& p = model_.processes[i];
      if (p.forked && p.parent >= 0) {
        timeline_.marks.push_back({"fork", p.parent, at(p.start_mono_ns), int(i), -1, -1});
      }
      if (p.end == ProcessEnd::kExec) timeline_.marks.push_back({"exec", int(i), at(p.end_mono_ns), -1, -1, -1});
    }
    for (const BadCloseEvent& b : model_.bad_closes) {
      timeline_.marks.push_back({"bad-close", b.process, at(b.mono_ns), -1, b.fd, stacks_.index_of(b.stack)});
    }
    std::stable_sort(timeline_.marks.begin(), timeline_.marks.end(),
                     [](const TimelineMark& a, const TimelineMark& b) { return a.at < b.at; });
  }

  // Bars by process, then by start; session references follow the move.
  void sort_bars() {
    std::vector<size_t> order(timeline_.bars.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const TimelineBar& x = timeline_.bars[a];
      const TimelineBar& y = timeline_.bars[b];
      return x.process != y.process ? x.process < y.process : x.start < y.start;
    });
    std::vector<int> new_index(order.size());
    for (size_t i = 0; i < order.size(); ++i) new_index[order[i]] = int(i);
    std::vector<TimelineBar> sorted;
    sorted.reserve(order.size());
    for (size_t i : order) {
      sorted.push_back(std::move(timeline_.bars[i]));
      if (sorted.back().session >= 0) sorted.back().session = new_index[size_t(sorted.back().session)];
    }
    timeline_.bars = std::move(sorted);
  }

 private:
  uint64_t at(uint64_t mono_ns) const { return mono_ns > origin_ ? mono_ns - origin_ : 0; }
  uint64_t process_end(int process) const { return timeline_.processes[size_t(process)].end; }

  int add_session(const SessionLife& s) {
    TimelineBar b;
    b.kind = BarKind::kSession;
    b.process = s.process;
    b.start = at(s.created_mono_ns);
    b.open_at_end = !s.ended;
    b.end = std::max(b.start, s.ended ? at(s.end_mono_ns) : process_end(s.process));
    b.how_ended = s.ended ? "invalidated" : s.held_elsewhere ? "copy lived on in another process" : "never invalidated";
    if (s.last_transfer_mono_ns) b.last_active = at(s.last_transfer_mono_ns);
    b.stack = stacks_.index_of(s.stack);
    b.api = s.api;
    b.handle = s.handle;
    b.completed_transfers = s.completed_transfers;
    b.connections_opened = s.connections_opened;
    timeline_.bars.push_back(std::move(b));
    return int(timeline_.bars.size() - 1);
  }

  int add_socket(const SocketLife& s) {
    TimelineBar b;
    b.kind = s.connected ? BarKind::kConnection : BarKind::kSocket;
    b.process = s.process;
    b.start = at(s.opened_mono_ns);
    b.open_at_end = s.end == SocketEnd::kOpen || s.end == SocketEnd::kHeldElsewhere;
    b.end = std::max(b.start, s.end_mono_ns ? at(s.end_mono_ns) : process_end(s.process));
    if (s.connected_mono_ns) b.connected = std::max(b.start, at(s.connected_mono_ns));
    // I/O is stamped with the coarse clock (a tick, 4 ms, early at worst):
    // never before the connection was made.
    if (s.last_io_mono_ns) b.last_active = std::clamp(at(s.last_io_mono_ns), b.connected.value_or(b.start), b.end);
    b.how_ended = how_socket_ended(model_, s);
    b.stack = stacks_.index_of(s.connected && s.connect_stack.id ? s.connect_stack : s.open_stack);
    b.fd = s.open_fds.empty() ? s.fd : s.open_fds.front();
    b.family = family_name(s.domain);
    b.protocol = protocol_name(s.domain, s.type, s.protocol);
    b.local = format_address(s.local);
    b.peer = format_address(s.peer);
    b.tcp_state = tcp_state_name(s.tcp_state);
    b.listening = s.listening;
    b.accepted = s.accepted;
    if (s.has_io_counters) {
      b.bytes_sent = s.bytes_sent;
      b.bytes_received = s.bytes_received;
    }
    if (auto it = session_bar_.find(model_.root_session(s.session)); it != session_bar_.end()) b.session = it->second;
    timeline_.bars.push_back(std::move(b));
    return int(timeline_.bars.size() - 1);
  }

  int socket_bar(int socket) {
    auto it = socket_bar_.find(socket);
    if (it != socket_bar_.end()) return it->second;
    return socket_bar_[socket] = add_socket(model_.sockets[size_t(socket)]);
  }

  int session_bar(int session) {
    auto it = session_bar_.find(session);
    if (it != session_bar_.end()) return it->second;
    return session_bar_[session] = add_session(model_.sessions[size_t(session)]);
  }

  const Model& model_;
  Timeline& timeline_;
  StackTable stacks_;
  uint64_t origin_ = UINT64_MAX;
  std::map<int, int> session_bar_;  // Model::sessions index -> bar
  std::map<int, int> socket_bar_;   // Model::sockets index -> bar
};

}  // namespace

Timeline build_timeline(const Model& model, const Report& report, Symbolizer& symbolizer) {
  Timeline timeline;
  Builder builder(model, symbolizer, timeline);
  builder.add_processes();
  builder.add_sessions();
  builder.add_sockets();
  builder.mark_findings(report);
  builder.add_marks();
  builder.sort_bars();
  return timeline;
}

}  // namespace connleak
