// The HTML report: one self-contained page. The page itself (markup, style,
// script: analyzer/render/html/) is compiled in; the report goes into it as one
// JSON document inside a <script type="application/json"> element, which
// the script reads with JSON.parse and shows through textContent and canvas
// text only. So no string from a trace is ever parsed as HTML, and the one
// way out of that element, "</script", cannot appear: every '<', '>' and
// '&' in the JSON is written as a \u escape.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "html_assets.h"
#include "render/render.h"

namespace connleak {
namespace {

using Json = nlohmann::ordered_json;

const char* bar_kind(BarKind kind) {
  switch (kind) {
    case BarKind::kConnection: return "connection";
    case BarKind::kSocket: return "socket";
    case BarKind::kSession: return "session";
  }
  return "socket";
}

template <typename T>
Json optional_or_null(const std::optional<T>& value) {
  return value ? Json(*value) : Json();
}

Json process_json(const TimelineProcess& p) {
  return Json{{"pid", p.pid},         {"ppid", p.ppid},   {"exe", p.exe},
              {"argv", p.argv},       {"start", p.start}, {"end", p.end},
              {"end_kind", p.end_kind}, {"exit_status", optional_or_null(p.exit_status)},
              {"signal", optional_or_null(p.signal)}, {"parent", p.parent}, {"origin", p.origin},
              {"summarized_before", p.summarized_before}};
}

// Short keys: a page with 10 k bars stays a few MB.
Json bar_json(const TimelineBar& b) {
  Json j{{"k", bar_kind(b.kind)}, {"p", b.process}, {"t0", b.start}, {"t1", b.end},
         {"open", b.open_at_end}, {"ended", b.how_ended}, {"stack", b.stack}};
  if (b.connected) j["tc"] = *b.connected;
  if (b.last_active) j["ta"] = *b.last_active;
  if (!b.finding.empty()) j["finding"] = b.finding;
  if (b.finding_index >= 0) j["fi"] = b.finding_index;
  if (b.kind == BarKind::kSession) {
    j["api"] = b.api;
    j["handle"] = hex_string(b.handle);
    j["transfers"] = b.completed_transfers;
    j["connections"] = b.connections_opened;
    return j;
  }
  j["fd"] = b.fd;
  j["family"] = b.family;
  j["protocol"] = b.protocol;
  if (!b.local.empty()) j["local"] = b.local;
  if (!b.peer.empty()) j["peer"] = b.peer;
  if (!b.tcp_state.empty()) j["tcp"] = b.tcp_state;
  if (b.listening) j["listening"] = true;
  if (b.accepted) j["accepted"] = true;
  if (b.bytes_sent) j["sent"] = *b.bytes_sent;
  if (b.bytes_received) j["received"] = *b.bytes_received;
  if (b.session >= 0) j["session"] = b.session;
  return j;
}

Json frames_json(const std::vector<Frame>& frames) {
  Json list = Json::array();
  for (const Frame& f : frames) {
    list.push_back(Json{{"function", f.function},
                        {"file", f.file},
                        {"line", f.line},
                        {"module", f.module},
                        {"offset", hex_string(f.module_offset)},
                        {"inlined", f.inlined}});
  }
  return list;
}

Json findings_json(const Report& report) {
  Json list = Json::array();
  for (const Finding& f : report.findings) {
    list.push_back(Json{{"kind", f.kind},
                        {"severity", f.severity == Severity::kError ? "error" : "warning"},
                        {"message", f.message},
                        {"count", f.count()},
                        {"pids", f.pids},
                        {"stack", frames_json(f.stack)}});
  }
  return list;
}

Json report_data(const Report& report) {
  static const Timeline empty;
  const Timeline& t = report.timeline ? *report.timeline : empty;
  Json processes = Json::array(), bars = Json::array(), marks = Json::array(), stacks = Json::array();
  for (const auto& p : t.processes) processes.push_back(process_json(p));
  for (const auto& b : t.bars) bars.push_back(bar_json(b));
  for (const auto& m : t.marks) {
    marks.push_back(Json{{"k", m.kind}, {"p", m.process}, {"t", m.at}, {"child", m.child}, {"fd", m.fd},
                         {"stack", m.stack}});
  }
  for (const auto& s : t.stacks) stacks.push_back(frames_json(s));
  const Summary& sum = report.summary;
  return Json{{"tool", {{"name", "connleak"}, {"version", report.tool_version}}},
              {"summary_line", summary_line(report)},
              {"summary",
               {{"findings", sum.findings},
                {"errors", sum.errors},
                {"warnings", sum.warnings},
                {"sockets_opened", sum.sockets_opened},
                {"sessions_created", sum.sessions_created},
                {"processes", sum.processes}}},
              {"origin_unix_ns", t.origin_real_ns},
              {"span", t.span},
              {"findings", findings_json(report)},
              {"processes", std::move(processes)},
              {"bars", std::move(bars)},
              {"marks", std::move(marks)},
              {"stacks", std::move(stacks)},
              {"bars_not_drawn", t.bars_not_kept}};
}

// JSON that can sit inside a <script> element: the characters that could
// end it or open markup become \u escapes, which JSON.parse reads back.
std::string script_safe(const std::string& json) {
  std::string out;
  out.reserve(json.size() + json.size() / 16);
  for (char c : json) {
    switch (c) {
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      case '&': out += "\\u0026"; break;
      default: out += c;
    }
  }
  return out;
}

// Replaces the one placeholder `marker` in `page` by `text`.
void fill(std::string& page, const std::string& marker, const std::string& text) {
  size_t at = page.find(marker);
  if (at != std::string::npos) page.replace(at, marker.size(), text);
}

}  // namespace

void render_html(const Report& report, std::ostream& out) {
  std::string page(html_assets::kPage);
  // The data goes in last, so a placeholder-like string inside it is never
  // taken for one.
  fill(page, "/*CONNLEAK_STYLE*/", html_assets::kStyle);
  fill(page, "/*CONNLEAK_SCRIPT*/", html_assets::kScript);
  std::string data = report_data(report).dump(-1, ' ', false, Json::error_handler_t::replace);
  fill(page, "CONNLEAK_DATA", script_safe(data));
  out << page;
}

}  // namespace connleak
