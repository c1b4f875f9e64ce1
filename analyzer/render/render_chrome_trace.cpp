// The timeline as Chrome Trace Event JSON (the "JSON Array/Object Format"
// that chrome://tracing and ui.perfetto.dev open). Each OS process is a
// trace process; each of its images (one per exec) is a thread of it, named
// by its command line. Sessions and sockets overlap, so they are async
// begin/end pairs ("b"/"e") with one id each, not nested slices.
#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "render/render.h"

namespace connleak {
namespace {

using Json = nlohmann::ordered_json;

// Trace Event timestamps are microseconds; keep the nanoseconds.
double micros(uint64_t ns) { return double(ns) / 1000.0; }

std::string command_line(const TimelineProcess& p) {
  std::string line;
  for (const auto& arg : p.argv) line += (line.empty() ? "" : " ") + arg;
  return line.empty() ? p.exe : line;
}

std::string bar_category(const TimelineBar& b) {
  switch (b.kind) {
    case BarKind::kConnection: return "connection";
    case BarKind::kSocket: return "socket";
    case BarKind::kSession: return "session";
  }
  return "socket";
}

std::string bar_name(const TimelineBar& b) {
  if (b.kind == BarKind::kSession) return b.api;
  std::string name = b.protocol.empty() ? b.family : b.protocol;
  if (!b.peer.empty()) return name + " " + b.peer;
  if (b.listening && !b.local.empty()) return name + " listening " + b.local;
  return name + " fd " + std::to_string(b.fd);
}

Json stack_json(const Timeline& t, int stack) {
  Json frames = Json::array();
  if (stack < 0) return frames;
  for (const Frame& f : t.stacks[size_t(stack)]) {
    std::string where = f.file.empty() ? f.module : f.file + ":" + std::to_string(f.line);
    frames.push_back((f.function.empty() ? std::string("??") : f.function) + " " + where);
  }
  return frames;
}

Json begin_args(const Timeline& t, const TimelineBar& b, const Json& stack) {
  Json args;
  if (!b.finding.empty()) args["finding"] = b.finding;
  if (b.kind == BarKind::kSession) {
    args["handle"] = hex_string(b.handle);
    args["completed_transfers"] = b.completed_transfers;
    args["connections_opened"] = b.connections_opened;
  } else {
    args["fd"] = b.fd;
    if (!b.peer.empty()) args["peer"] = b.peer;
    if (!b.local.empty()) args["local"] = b.local;
    if (b.session >= 0) args["session"] = t.bars[size_t(b.session)].api;
  }
  // The whole stack where a finding points; elsewhere its innermost frame,
  // so 10 k connections from one loop do not repeat one stack 10 k times.
  if (!b.finding.empty()) {
    args["stack"] = stack;
  } else if (!stack.empty()) {
    args["created_at"] = stack.front();
  }
  return args;
}

Json end_args(const TimelineBar& b) {
  Json args;
  args["ended"] = b.how_ended;
  if (b.bytes_sent) args["bytes_sent"] = *b.bytes_sent;
  if (b.bytes_received) args["bytes_received"] = *b.bytes_received;
  if (!b.tcp_state.empty()) args["tcp_state"] = b.tcp_state;
  if (b.last_active) args["idle_us"] = micros(b.end - *b.last_active);
  return args;
}

class ChromeTrace {
 public:
  explicit ChromeTrace(const Timeline& t) : t_(t) {
    for (size_t i = 0; i < t.stacks.size(); ++i) stacks_.push_back(stack_json(t, int(i)));
  }

  Json events() {
    Json all = Json::array();
    add_names(all);
    for (size_t i = 0; i < t_.bars.size(); ++i) add_bar(int(i));
    for (const TimelineMark& m : t_.marks) add_mark(m);
    add_open_counters();
    // Per track, timestamps must not go back; a stable sort keeps each
    // begin before its end when both fall on one microsecond.
    std::stable_sort(timed_.begin(), timed_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& e : timed_) all.push_back(std::move(e.second));
    return all;
  }

 private:
  int tid(int process) const { return process + 1; }  // one thread per image, unique in the trace

  Json event(const char* ph, const std::string& name, int process, uint64_t at) const {
    return Json{{"ph", ph}, {"name", name}, {"pid", t_.processes[size_t(process)].pid},
                {"tid", tid(process)}, {"ts", micros(at)}};
  }

  void add_names(Json& all) const {
    std::set<int> named;
    // The last image of a pid names the process; every image names its thread.
    for (size_t i = t_.processes.size(); i-- > 0;) {
      const TimelineProcess& p = t_.processes[i];
      if (named.insert(p.pid).second) {
        all.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", p.pid}, {"tid", tid(int(i))},
                       {"args", {{"name", "pid " + std::to_string(p.pid) + ": " + command_line(p)}}}});
      }
      all.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", p.pid}, {"tid", tid(int(i))},
                     {"args", {{"name", command_line(p)}}}});
    }
  }

  void add_bar(int index) {
    const TimelineBar& b = t_.bars[size_t(index)];
    std::string id = hex_string(uint64_t(index) + 1);
    Json begin = event("b", bar_name(b), b.process, b.start);
    begin["cat"] = bar_category(b);
    begin["id"] = id;
    begin["args"] = begin_args(t_, b, b.stack >= 0 ? stacks_[size_t(b.stack)] : kNoStack);
    add(std::move(begin));
    if (b.kind == BarKind::kSession) {
      if (!b.open_at_end) add(instant("invalidate", b.process, b.end, b.api));
    } else {
      if (b.connected) add(instant(b.accepted ? "accept" : "connect", b.process, *b.connected, bar_name(b)));
      if (!b.open_at_end) add(instant("close", b.process, b.end, bar_name(b)));
    }
    Json end = event("e", bar_name(b), b.process, b.end);
    end["cat"] = bar_category(b);
    end["id"] = id;
    end["args"] = end_args(b);
    add(std::move(end));
  }

  Json instant(const std::string& name, int process, uint64_t at, const std::string& what) const {
    Json e = event("i", name, process, at);
    e["s"] = "t";
    e["args"] = {{"what", what}};
    return e;
  }

  void add_mark(const TimelineMark& m) {
    Json e = event("i", m.kind, m.process, m.at);
    e["s"] = "t";
    Json args;
    if (m.child >= 0) args["child"] = command_line(t_.processes[size_t(m.child)]);
    if (m.fd >= 0) args["fd"] = m.fd;
    if (m.stack >= 0) args["stack"] = stacks_[size_t(m.stack)];
    e["args"] = args;
    add(std::move(e));
  }

  // Per OS process: connections open over time.
  void add_open_counters() {
    std::map<int, std::vector<std::pair<uint64_t, int>>> changes;  // pid -> (time, +1/-1)
    std::map<int, int> image_of;                                    // pid -> an image, for the tid
    for (const TimelineBar& b : t_.bars) {
      if (b.kind != BarKind::kConnection) continue;
      int pid = t_.processes[size_t(b.process)].pid;
      image_of.emplace(pid, b.process);
      changes[pid].push_back({b.start, +1});
      changes[pid].push_back({b.end, -1});
    }
    for (auto& [pid, list] : changes) {
      std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      int open = 0;
      for (size_t i = 0; i < list.size(); ++i) {
        open += list[i].second;
        if (i + 1 < list.size() && list[i + 1].first == list[i].first) continue;  // one sample per instant
        Json c = event("C", "open connections", image_of[pid], list[i].first);
        c["args"] = {{"open", open}};
        add(std::move(c));
      }
    }
  }

  void add(Json event) {
    double ts = event["ts"].get<double>();
    timed_.emplace_back(ts, std::move(event));
  }

  inline static const Json kNoStack = Json::array();
  const Timeline& t_;
  std::vector<Json> stacks_;  // Timeline::stacks, as frame strings
  std::vector<std::pair<double, Json>> timed_;  // (ts, event)
};

}  // namespace

void render_chrome_trace(const Report& report, std::ostream& out) {
  static const Timeline empty;
  const Timeline& t = report.timeline ? *report.timeline : empty;
  Json doc;
  doc["traceEvents"] = ChromeTrace(t).events();
  doc["displayTimeUnit"] = "ms";
  doc["otherData"] = {{"tool", "connleak"},
                      {"version", report.tool_version},
                      {"origin_unix_ns", t.origin_real_ns},
                      {"findings", report.summary.findings},
                      {"bars_not_drawn", t.bars_not_kept}};
  out << doc.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
}

}  // namespace connleak
