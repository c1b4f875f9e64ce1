#include "report/report_builder.h"

#include "report/finding_text.h"
#include "model/growth.h"

#include <netinet/tcp.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

namespace connleak {
namespace {

// Frames as source positions (or function and module, without debug
// info); a stack with an unnamed frame keeps its module offsets, so
// unrelated unsymbolized stacks never merge.
std::string source_key(const std::vector<Frame>& frames, const std::string& addresses) {
  if (frames.empty()) return addresses;
  std::ostringstream key;
  for (const auto& f : frames) {
    if (f.line > 0) {
      key << f.function << '@' << f.file << ':' << f.line << ';';
    } else if (!f.function.empty()) {
      key << f.function << '@' << f.module << ';';
    } else {
      return addresses;
    }
  }
  return key.str();
}

ProcessSummary summarize(const ProcessLife& p) {
  ProcessSummary s;
  s.pid = p.pid;
  s.ppid = p.ppid;
  s.exe = p.exe;
  s.argv = p.argv;
  s.start_ns = p.start_real_ns;
  s.end_ns = p.to_real_ns(p.end_mono_ns);
  s.end = process_end_name(p.end);
  s.exit_status = p.exit_status;
  s.signal = p.signal;
  s.trace = p.trace;
  s.lost_events = p.lost_events;
  s.stacks_omitted = p.stacks_omitted;
  s.untraced_children = p.untraced_children;
  if (p.summarized_before_mono_ns) s.history_summarized_before_ns = p.to_real_ns(p.summarized_before_mono_ns);
  s.closed_sockets_summarized = p.closed_sockets_summarized;
  return s;
}

void note_shared_at_end(const Model& model, Report& report) {
  for (const SocketLife& s : model.sockets) {
    if (s.recycled || s.end != SocketEnd::kHeldElsewhere) continue;
    int fd = s.open_fds.empty() ? s.fd : s.open_fds.front();
    report.processes[size_t(s.process)].shared_at_end.push_back({fd, model.processes[size_t(s.held_on_by)].pid});
  }
}

// The connections a session still held when its process ended.
std::vector<HeldConnection> held_connections(const Model& model, int session) {
  std::vector<HeldConnection> held;
  for (const SocketLife& s : model.sockets) {
    if (s.end != SocketEnd::kOpen || !s.connected || model.root_session(s.session) != session) continue;
    held.push_back({s.open_fds.empty() ? s.fd : s.open_fds.front(), format_address(s.peer),
                    format_address(s.local), tcp_state_name(s.tcp_state)});
  }
  return held;
}

LeakInstance session_instance(const Model& model, const Leak& leak) {
  const SessionLife& s = model.sessions[size_t(leak.session)];
  const ProcessLife& p = model.processes[size_t(s.process)];
  LeakInstance i;
  i.pid = p.pid;
  i.opened_ns = p.to_real_ns(s.created_mono_ns);
  SessionFacts facts;
  facts.api = s.api;
  facts.handle = s.handle;
  facts.completed_transfers = s.completed_transfers;
  facts.connections_opened = s.connections_opened;
  // A stale session is judged as a leaked one would be: idle until now, and
  // what it holds.
  bool leaked = leak.kind == "leaked-session" || leak.kind == "stale-session";
  if (s.last_transfer_mono_ns) {
    facts.last_transfer_ns = p.to_real_ns(s.last_transfer_mono_ns);
    if (leaked) i.idle_ns = s.end_mono_ns - s.last_transfer_mono_ns;
  }
  if (leak.kind == "stale-session") i.idle_ns = s.end_mono_ns - std::max(s.last_transfer_mono_ns, s.created_mono_ns);
  if (leaked) facts.connections = held_connections(model, leak.session);
  i.session_facts = std::move(facts);
  return i;
}

// The newest socket still open from the site: what the growth is made of.
const SocketLife* newest_open_socket(const Model& model, int site) {
  const SocketLife* newest = nullptr;
  for (const SocketLife& s : model.sockets) {
    if (s.recycled || s.site != site || s.end != SocketEnd::kOpen) continue;
    if (!newest || s.opened_mono_ns >= newest->opened_mono_ns) newest = &s;
  }
  return newest;
}

LeakInstance growth_instance(const Model& model, const Leak& leak) {
  const SiteHistory& site = model.sites[size_t(leak.site)];
  const ProcessLife& p = model.processes[size_t(site.process)];
  Growth g = measure_growth(site, growth_end(site, p));
  LeakInstance i;
  i.pid = p.pid;
  i.opened_ns = p.to_real_ns(g.window_start_ns);
  if (const SocketLife* s = newest_open_socket(model, leak.site)) {
    i.family = family_name(s->domain);
    i.protocol = protocol_name(s->domain, s->type, s->protocol);
    i.peer = format_address(s->peer);
  }
  i.growth = GrowthFacts{site.sessions, site.api,     g.open_at_end,   g.open_at_start,
                         g.opened,      g.closed,     site.opened(),   site.closed(),
                         g.per_minute,  g.window_ns(), p.to_real_ns(g.window_end_ns)};
  return i;
}

LeakInstance instance_of(const Model& model, const Leak& leak) {
  if (leak.session >= 0) {
    LeakInstance i = session_instance(model, leak);
    i.model_session = leak.session;
    return i;
  }
  if (leak.site >= 0) return growth_instance(model, leak);
  const ProcessLife& p = model.processes[size_t(leak.process)];
  LeakInstance i;
  i.pid = p.pid;
  i.fd = leak.fd;
  if (leak.socket < 0) return i;
  i.model_socket = leak.socket;
  const SocketLife& s = model.sockets[size_t(leak.socket)];
  if (leak.kind != "bad-close" && !s.open_fds.empty()) i.fd = s.open_fds.front();
  i.family = family_name(s.domain);
  i.protocol = protocol_name(s.domain, s.type, s.protocol);
  i.local = format_address(s.local);
  i.peer = format_address(s.peer);
  i.opened_ns = p.to_real_ns(s.opened_mono_ns);
  i.tcp_state = tcp_state_name(s.tcp_state);
  i.listening = s.listening;
  i.inherited = s.inherited || s.inherited_at_start;
  for (int holder : s.shared_with) i.shared_with.push_back(model.processes[size_t(holder)].pid);
  if (s.has_io_counters) {
    i.bytes_sent = s.bytes_sent;
    i.bytes_received = s.bytes_received;
    if (s.last_io_mono_ns) {
      i.last_io_ns = p.to_real_ns(s.last_io_mono_ns);
      if (s.end == SocketEnd::kOpen && s.end_mono_ns >= s.last_io_mono_ns) {
        i.idle_ns = s.end_mono_ns - s.last_io_mono_ns;
      }
    }
  }
  return i;
}

// A leaked session comes before the connections it holds: one story.
int kind_rank(const std::string& kind) {
  static const char* const order[] = {"leaked-session",  "leaked-connection", "leaked-socket",
                                      "dead-connection", "connection-growth", "stale-session",
                                      "stale-connection", "session-churn",    "inherited-socket",
                                      "bad-close"};
  for (size_t i = 0; i < std::size(order); ++i) {
    if (kind == order[i]) return int(i);
  }
  return int(std::size(order));
}

void sort_findings(std::vector<Finding>& findings) {
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    if (a.severity != b.severity) return a.severity == Severity::kError;
    if (kind_rank(a.kind) != kind_rank(b.kind)) return kind_rank(a.kind) < kind_rank(b.kind);
    if (a.count() != b.count()) return a.count() > b.count();
    return a.message < b.message;
  });
}


}  // namespace

const char* process_end_name(ProcessEnd end) {
  switch (end) {
    case ProcessEnd::kExit: return "exit";
    case ProcessEnd::kExec: return "exec";
    case ProcessEnd::kSignal: return "signal";
    case ProcessEnd::kUnknown: return "unknown";
    case ProcessEnd::kRunning: return "running";
  }
  return "unknown";
}

std::string tcp_state_name(uint8_t state) {
  static const char* const names[] = {"",          "ESTABLISHED", "SYN_SENT",   "SYN_RECV",
                                      "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT",  "CLOSE",
                                      "CLOSE_WAIT", "LAST_ACK",   "LISTEN",     "CLOSING"};
  return state < std::size(names) ? names[state] : "";
}

void count_findings(Report& report) {
  Summary& sum = report.summary;
  sum.findings = report.findings.size();
  sum.errors = sum.warnings = 0;
  for (const auto& f : report.findings) (f.severity == Severity::kError ? sum.errors : sum.warnings)++;
}

// The session and the first frame of its creation stack.
SessionRef session_ref(const Model& model, int session, std::map<std::string, std::vector<Frame>>& symbolized,
                       Symbolizer& symbolizer) {
  const SessionLife& s = model.sessions[size_t(session)];
  SessionRef ref{s.api, s.handle, "", "", 0};
  std::string key = model.stack_key(s.stack);
  auto it = symbolized.find(key);
  if (it == symbolized.end()) it = symbolized.emplace(key, symbolize_stack(model, s.stack, symbolizer)).first;
  if (!it->second.empty()) {
    ref.function = it->second.front().function;
    ref.file = it->second.front().file;
    ref.line = it->second.front().line;
  }
  return ref;
}

std::vector<Frame> symbolize_stack(const Model& model, const StackRef& ref, Symbolizer& symbolizer) {
  std::vector<Frame> frames;
  const auto* ips = model.stack(ref);
  if (!ips) return frames;
  std::vector<ModuleInfo> modules = model.modules_of(ref.process);
  for (uint64_t ip : *ips) {
    for (auto& frame : symbolizer.symbolize(modules, ip, true)) frames.push_back(std::move(frame));
  }
  return frames;
}

Report build_report(const Model& model, const std::vector<Leak>& leaks, Symbolizer& symbolizer,
                    const std::string& tool_version) {
  Report report;
  report.tool_version = tool_version;
  for (const auto& p : model.processes) report.processes.push_back(summarize(p));
  note_shared_at_end(model, report);
  std::sort(report.processes.begin(), report.processes.end(),
            [](const auto& a, const auto& b) { return a.start_ns < b.start_ns; });

  // Leaks group by what the user sees: the same kind at the same source
  // lines. (-O2 code can reach one line from several addresses.)
  std::map<std::string, std::vector<Frame>> symbolized;  // by address key
  std::map<std::pair<std::string, std::string>, std::vector<Leak>> groups;
  for (const auto& leak : leaks) {
    std::string addresses = model.stack_key(leak.stack);
    auto it = symbolized.find(addresses);
    if (it == symbolized.end()) {
      it = symbolized.emplace(addresses, symbolize_stack(model, leak.stack, symbolizer)).first;
    }
    groups[{leak.kind, source_key(it->second, addresses)}].push_back(leak);
  }

  for (const auto& [key, group] : groups) {
    Finding f;
    f.kind = key.first;
    f.severity = group.front().severity;
    f.stack = symbolized[model.stack_key(group.front().stack)];
    std::set<int> pids;
    std::set<std::string> exes;
    for (const auto& leak : group) {
      f.instances.push_back(instance_of(model, leak));
      if (leak.socket >= 0) {
        int owner = model.root_session(model.sockets[size_t(leak.socket)].session);
        if (owner >= 0) f.instances.back().session = session_ref(model, owner, symbolized, symbolizer);
      }
      pids.insert(f.instances.back().pid);
      exes.insert(model.processes[size_t(leak.process)].exe);
    }
    f.pids.assign(pids.begin(), pids.end());
    f.executables.assign(exes.begin(), exes.end());
    f.message = finding_message(f, model, group);
    report.findings.push_back(std::move(f));
  }
  sort_findings(report.findings);
  for (auto& f : report.findings) f.fingerprint = fingerprint_of(f);

  Summary& sum = report.summary;
  count_findings(report);
  sum.sockets_opened = model.sockets_opened;
  sum.sessions_created = model.sessions_summarized +
                         size_t(std::count_if(model.sessions.begin(), model.sessions.end(), [](const SessionLife& s) {
                           return s.parent < 0 && !s.inherited && !s.from_checkpoint;
                         }));
  sum.processes = model.processes.size();
  return report;
}

}  // namespace connleak
