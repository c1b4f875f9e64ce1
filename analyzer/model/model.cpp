// Builds the lifetime model from trace files: replays each (replay.cpp),
// parents before their fork children, then links processes: how killed
// children ended (from their parent's wait), and which sockets crossed an
// exec or posix_spawn into another image.
#include "model/model.h"

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <set>

#include "model/replay.h"
#include "trace/trace_segments.h"
#include "model/running.h"

namespace connleak {

using detail::ForkKey;
using detail::ForkRegistry;
using detail::Replay;

void SiteHistory::record(uint64_t mono_ns, uint64_t opened_more, uint64_t closed_more) {
  constexpr uint64_t kSecond = 1'000'000'000;
  // Timestamps of different threads (coarse and fine clocks) may go back a tick.
  if (!points.empty()) mono_ns = std::max(mono_ns, points.back().mono_ns);
  SitePoint next{mono_ns, opened() + opened_more, closed() + closed_more};
  if (!points.empty() && points.back().mono_ns / kSecond == mono_ns / kSecond) {
    points.back() = next;
  } else {
    points.push_back(next);
  }
}

int64_t SiteHistory::open_at(uint64_t mono_ns) const {
  auto after = std::upper_bound(points.begin(), points.end(), mono_ns,
                                [](uint64_t t, const SitePoint& p) { return t < p.mono_ns; });
  if (after == points.begin()) return 0;
  --after;
  return int64_t(after->opened) - int64_t(after->closed);
}

const std::vector<uint64_t>* Model::stack(const StackRef& ref) const {
  if (ref.id == trace::kNoStack) return nullptr;
  for (int p = ref.process; p >= 0; p = processes[size_t(p)].parent) {
    const auto& stacks = processes[size_t(p)].stacks;
    if (auto it = stacks.find(ref.id); it != stacks.end()) return &it->second;
  }
  return nullptr;
}

std::string Model::stack_key(const StackRef& ref) const {
  const auto* ips = stack(ref);
  if (!ips) return "(no stack)";
  std::vector<ModuleInfo> modules = modules_of(ref.process);
  std::string key;
  char piece[64];
  for (uint64_t ip : *ips) {
    auto module = std::find_if(modules.begin(), modules.end(),
                               [&](const ModuleInfo& m) { return ip >= m.low && ip < m.high; });
    if (module == modules.end()) {
      snprintf(piece, sizeof(piece), "?+%llx;", static_cast<unsigned long long>(ip));
      key += piece;
    } else {
      snprintf(piece, sizeof(piece), "+%llx;", static_cast<unsigned long long>(ip - module->bias));
      key += module->path + piece;
    }
  }
  return key;
}

std::vector<ModuleInfo> Model::modules_of(int process) const {
  std::vector<ModuleInfo> modules;
  for (int p = process; p >= 0; p = processes[size_t(p)].parent) {
    const auto& own = processes[size_t(p)].modules;
    modules.insert(modules.end(), own.begin(), own.end());
  }
  return modules;
}

namespace detail {

ProcessLife process_from_header(const trace::FileHeader& h, const std::string& trace_name) {
  ProcessLife p;
  p.trace = trace_name;
  p.pid = h.pid;
  p.ppid = h.ppid;
  p.start_mono_ns = h.start_mono_ns;
  p.start_real_ns = h.start_real_ns;
  p.forked = h.origin == uint32_t(trace::Origin::kForked);
  return p;
}

std::string parent_name(const trace::FileHeader& h) {
  return std::string(h.parent_trace, strnlen(h.parent_trace, sizeof(h.parent_trace)));
}

}  // namespace detail

namespace {

ProcessLife process_from_header(const TraceImage& image) {
  return detail::process_from_header(image.first().header(), image.name);
}

std::string parent_name(const TraceFile& trace) { return detail::parent_name(trace.header()); }

// Parents before their fork children, so a child starts from its parent's
// state at the fork.
std::vector<size_t> replay_order(const std::vector<TraceImage>& traces) {
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < traces.size(); ++i)
    for (const auto& name : traces[i].names) by_name[name] = i;
  std::vector<size_t> order;
  std::vector<int> state(traces.size(), 0);  // 0 new, 1 visiting, 2 done
  std::function<void(size_t)> visit = [&](size_t i) {
    if (state[i] != 0) return;
    state[i] = 1;
    const auto& h = traces[i].first().header();
    if (h.origin == uint32_t(trace::Origin::kForked)) {
      if (auto it = by_name.find(parent_name(traces[i].first())); it != by_name.end()) visit(it->second);
    }
    state[i] = 2;
    order.push_back(i);
  };
  for (size_t i = 0; i < traces.size(); ++i) visit(i);
  return order;
}

// The image of `pid` that was running at `mono_ns` and did not end in exec.
ProcessLife* final_image(Model& model, int pid, uint64_t mono_ns) {
  ProcessLife* found = nullptr;
  for (auto& p : model.processes) {
    if (p.pid != pid || p.end == ProcessEnd::kExec || p.start_mono_ns > mono_ns) continue;
    if (!found || p.start_mono_ns > found->start_mono_ns) found = &p;
  }
  return found;
}

// A child killed by a signal writes no end record; its parent's wait says
// how it ended.
void apply_reaped_children(Model& model) {
  for (const auto& reaped : model.reaped) {
    ProcessLife* child = final_image(model, reaped.pid, reaped.mono_ns);
    if (!child || child->end == ProcessEnd::kExit) continue;
    if (WIFSIGNALED(reaped.wait_status)) {
      child->end = ProcessEnd::kSignal;
      child->signal = WTERMSIG(reaped.wait_status);
    } else if (WIFEXITED(reaped.wait_status)) {
      child->end = ProcessEnd::kExit;
      child->exit_status = WEXITSTATUS(reaped.wait_status);
    }
  }
}

// Which image handed a socket to the one that found it open at its start:
// the same pid's previous image (exec) or the parent that spawned it.
const std::map<uint64_t, int>* passed_on_to(const Model& model, const ProcessLife& image) {
  const ProcessLife* previous = nullptr;
  for (const auto& p : model.processes) {
    if (p.pid == image.pid && p.end == ProcessEnd::kExec && p.start_mono_ns < image.start_mono_ns &&
        (!previous || p.start_mono_ns > previous->start_mono_ns)) {
      previous = &p;
    }
  }
  if (previous) return &previous->passed_on_at_exec;
  for (const auto& p : model.processes) {
    if (auto it = p.passed_on_at_spawn.find(image.pid); it != p.passed_on_at_spawn.end()) return &it->second;
  }
  return nullptr;
}

void link_handovers(Model& model) {
  for (size_t i = 0; i < model.sockets.size(); ++i) {
    const SocketLife& s = model.sockets[i];
    if (!s.inherited_at_start) continue;
    const auto* passed = passed_on_to(model, model.processes[size_t(s.process)]);
    if (!passed) continue;
    auto it = passed->find(s.inode);
    if (it == passed->end()) continue;
    model.handovers.push_back({it->second, int(i)});
    // Opened in the image that handed it on, not at this one's start.
    SocketLife& to = model.sockets[i];
    to.opened_mono_ns = std::min(to.opened_mono_ns, model.sockets[size_t(it->second)].opened_mono_ns);
  }
  // Handed on again (exec, then exec or spawn): every copy names the image
  // that made the socket. Chains are short; go on until nothing changes.
  // Fork copies of a handed-on socket share its shared_id.
  auto take_origin = [](SocketLife& to, const SocketLife& from) {
    if (to.open_stack.id || !from.open_stack.id) return false;
    to.open_stack = from.open_stack;
    to.connect_stack = from.connect_stack;
    to.opened_mono_ns = std::min(to.opened_mono_ns, from.opened_mono_ns);
    return true;
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (const Handover& h : model.handovers)
      changed |= take_origin(model.sockets[size_t(h.to_socket)], model.sockets[size_t(h.from_socket)]);
    std::map<int, int> with_stack;  // shared_id -> a socket of it with a stack
    for (size_t i = 0; i < model.sockets.size(); ++i)
      if (!model.sockets[i].recycled && model.sockets[i].open_stack.id) with_stack.emplace(model.sockets[i].shared_id, int(i));
    for (SocketLife& s : model.sockets) {
      auto origin = with_stack.find(s.shared_id);
      if (!s.recycled && origin != with_stack.end()) changed |= take_origin(s, model.sockets[size_t(origin->second)]);
    }
  }
}

// Every fork child of a traced process starts a trace of its own that names
// its parent's Fork record; a Fork record no trace names is a child whose
// events are all missing.
void note_untraced_children(Model& model, const ForkRegistry& forks,
                            const std::map<std::string, int>& process_of_trace) {
  for (const ForkKey& fork : forks.seen) {
    if (forks.wanted.count(fork)) continue;
    auto parent = process_of_trace.find(fork.first);
    if (parent == process_of_trace.end()) continue;
    ProcessLife& p = model.processes[size_t(parent->second)];
    ++p.untraced_children;
    model.warnings.push_back("pid " + std::to_string(p.pid) + " forked a child that left no trace (it could not " +
                             "create one, or its trace is not among the inputs); its events are missing");
  }
}

// The fds a fork child says it holds (its ForkFds record, among its first
// records), if it had to say.
std::optional<std::set<int>> listed_fork_fds(const TraceFile& child) {
  std::optional<std::set<int>> listed;
  int budget = 64;
  bool in_checkpoint = false;  // a bounded child's own checkpoint comes first
  child.scan_records([&](const RecordView& r) {
    if (r.type() == trace::RecordType::kCheckpointBegin) in_checkpoint = true;
    if (r.type() == trace::RecordType::kCheckpointEnd) in_checkpoint = false;
    if (in_checkpoint) return true;
    if (r.type() == trace::RecordType::kForkFds) {
      const auto& rec = r.as<trace::ForkFds>();
      auto* fds = reinterpret_cast<const int32_t*>(&rec + 1);
      listed.emplace(fds, fds + rec.count);
      return false;
    }
    return --budget > 0;
  });
  return listed;
}

// Only a child read from its start needs its parent's state: a later
// segment's checkpoint says all it holds.
ForkRegistry forks_named_by_children(const std::vector<TraceImage>& images) {
  ForkRegistry forks;
  for (const TraceImage& image : images) {
    const TraceFile& trace = image.first();
    if (trace.header().origin != uint32_t(trace::Origin::kForked) || !image.from_start()) continue;
    forks.wanted[{parent_name(trace), trace.header().parent_fork_offset}] = listed_fork_fds(trace);
  }
  return forks;
}

// A fork child starts from its parent's state at the Fork record; when that
// record is gone (the parent's bounded trace dropped it, or the parent's
// trace is missing), from the checkpoint the child wrote of what it
// inherited, if it wrote one.
void start_fork_child(Model& model, const TraceImage& image, Replay& replay, ForkRegistry& forks,
                      const std::map<std::string, int>& process_of_trace) {
  const TraceFile& trace = image.first();
  std::string parent = parent_name(trace);
  auto parent_process = process_of_trace.find(parent);
  if (parent_process != process_of_trace.end()) model.processes.back().parent = parent_process->second;
  if (!image.from_start()) return;
  auto state = forks.captured.find({parent, trace.header().parent_fork_offset});
  if (state != forks.captured.end()) {
    replay.inherit(std::move(state->second));
    forks.captured.erase(state);
  } else if (!(trace.header().header_flags & trace::kHeaderEmptyFork) && !has_fork_checkpoint(trace)) {
    model.warnings.push_back(trace.name() + ": its parent's trace " + parent +
                             " is missing; sockets it inherited are not known");
  }
}

// Among the copies of one socket: the last copy to go decides, among those
// their processes used (a child that never touched what it inherited only
// held its parent's). A socket received and not used yet is the receiver's
// if it was handed over (no other process used it after it arrived); if
// the sender went on using it (nginx's master writing to its workers'
// channels), the receiver only held a copy.
template <class Copy>
void decide_last_holder(Model& model, std::vector<Copy>& group) {
  for (Copy& c : group) {
    if (c.used || c.socket < 0 || !model.sockets[size_t(c.socket)].received) continue;
    uint64_t arrived = model.sockets[size_t(c.socket)].opened_mono_ns;
    bool sender_went_on = std::any_of(group.begin(), group.end(), [&](const Copy& other) {
      return other.process != c.process && other.used && other.last_io > arrived;
    });
    c.used = !sender_went_on;
  }
  const Copy* last = nullptr;
  std::set<int> holders;
  for (const Copy& c : group) {
    holders.insert(c.process);
    if (!last || (c.used && !last->used) || (c.used == last->used && c.at > last->at)) last = &c;
  }
  for (const Copy& c : group) {
    if (c.socket < 0) continue;
    SocketLife& s = model.sockets[size_t(c.socket)];
    if (&c != last) {
      s.end = SocketEnd::kHeldElsewhere;
      s.held_on_by = last->process;
      continue;
    }
    for (int holder : holders)
      if (holder != s.process) s.shared_with.push_back(holder);
  }
}

// When a process let go of what it still held at its end: a running one
// holds on.
uint64_t held_until(const ProcessLife& p) { return p.end == ProcessEnd::kRunning ? UINT64_MAX : p.end_mono_ns; }

// A socket several processes shared (fork, spawn) is leaked by the one
// whose reference ended last, if that one ended without closing it; a
// process that ended while another still held the socket leaked nothing.
void decide_shared_sockets(Model& model) {
  // Spawn and exec hand a socket on, SCM_RIGHTS passes it: one socket, one id.
  std::vector<int> root(size_t(model.shared_ids));
  for (size_t i = 0; i < root.size(); ++i) root[i] = int(i);
  std::function<int(int)> find = [&](int id) { return root[size_t(id)] == id ? id : root[size_t(id)] = find(root[size_t(id)]); };
  for (const Handover& h : model.handovers) {
    SocketLife& from = model.sockets[size_t(h.from_socket)];
    SocketLife& to = model.sockets[size_t(h.to_socket)];
    if (from.shared_id < 0 || to.shared_id < 0) continue;
    root[size_t(find(to.shared_id))] = find(from.shared_id);
    from.shared = to.shared = true;
  }
  // SCM_RIGHTS: the sender's socket and the receiver's are one.
  for (const auto& [inode, ids] : model.ids_by_inode)
    for (int id : ids) root[size_t(find(id))] = find(ids.front());
  // Every copy of each socket: its process, when its reference ended,
  // whether that process used it, and its last I/O.
  struct Copy {
    int process = -1;
    uint64_t at = 0;
    bool used = false;
    uint64_t last_io = 0;
    int socket = -1;  // still open at its process's end: its index
  };
  std::map<int, std::vector<Copy>> copies;  // by root id
  for (const auto& [id, releases] : model.shared_releases)
    for (const auto& r : releases) copies[find(id)].push_back({r.process, r.at, r.used, r.last_io, -1});
  for (size_t i = 0; i < model.sockets.size(); ++i) {
    const SocketLife& s = model.sockets[i];
    if (s.shared && !s.recycled && s.end == SocketEnd::kOpen)
      copies[find(s.shared_id)].push_back({s.process, held_until(model.processes[size_t(s.process)]), s.used,
                                           s.last_io_mono_ns, int(i)});
  }
  for (auto& [root, group] : copies) decide_last_holder(model, group);
}

// A session a fork child inherited is the same object in both: like a
// socket, it leaked where the last copy ended alive.
void decide_shared_sessions(Model& model) {
  std::map<int, std::pair<uint64_t, int>> last;  // shared_id -> (time, session), inherited groups only
  std::set<int> shared;
  for (const SessionLife& s : model.sessions)
    if (s.inherited) shared.insert(s.shared_id);
  for (size_t i = 0; i < model.sessions.size(); ++i) {
    const SessionLife& s = model.sessions[i];
    if (!shared.count(s.shared_id)) continue;
    uint64_t at = s.alive_at_end ? held_until(model.processes[size_t(s.process)]) : s.end_mono_ns;
    auto [it, fresh] = last.try_emplace(s.shared_id, at, int(i));
    // A free at the same time as an end wins: no false leak on a tie.
    if (!fresh && (at > it->second.first || (at == it->second.first && !s.alive_at_end))) it->second = {at, int(i)};
  }
  for (size_t i = 0; i < model.sessions.size(); ++i) {
    SessionLife& s = model.sessions[i];
    if (s.alive_at_end && shared.count(s.shared_id) && last[s.shared_id].second != int(i)) s.held_elsewhere = true;
  }
}

}  // namespace

Model build_model(std::vector<TraceFile>& traces, const ModelOptions& options) {
  Model model;
  model.options = options;
  std::vector<TraceImage> images = group_segments(traces, model.warnings);
  ForkRegistry forks = forks_named_by_children(images);
  std::map<std::string, int> process_of_trace;
  for (size_t i : replay_order(images)) {
    const TraceImage& image = images[i];
    model.processes.push_back(process_from_header(image));
    int process = int(model.processes.size() - 1);
    for (const auto& name : image.names) process_of_trace[name] = process;
    Replay replay(model, process, forks);
    if (model.processes.back().forked) start_fork_child(model, image, replay, forks, process_of_trace);
    replay.run(image.segments);
  }
  note_untraced_children(model, forks, process_of_trace);
  apply_reaped_children(model);
  mark_running_processes(model);
  link_handovers(model);
  decide_shared_sockets(model);
  decide_shared_sessions(model);
  return model;
}

}  // namespace connleak
