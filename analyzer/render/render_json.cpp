// The JSON report, schema "connleak-report/1" (DESIGN.md, "JSON report").
// Unknown values are null rather than "" or 0, so that a consumer can tell
// "unknown" from "empty" or "zero".
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "render/render.h"

namespace connleak {
namespace {

// ordered_json keeps the keys in the order they are set, so the file reads
// in the order the schema documents ("schema" first, "summary" last).
using Json = nlohmann::ordered_json;

Json string_or_null(const std::string& s) { return s.empty() ? Json() : Json(s); }

template <typename T>
Json optional_or_null(const std::optional<T>& value) {
  return value ? Json(*value) : Json();
}

const char* severity_name(Severity severity) {
  return severity == Severity::kWarning ? "warning" : "error";
}

Json frame_json(const Frame& frame) {
  return Json{
      {"function", string_or_null(frame.function)},
      {"file", string_or_null(frame.file)},
      {"line", frame.line > 0 ? Json(frame.line) : Json()},
      {"module", string_or_null(frame.module)},
      {"address", hex_string(frame.address)},
      {"module_offset", frame.module.empty() ? Json() : Json(hex_string(frame.module_offset))},
      {"build_id", string_or_null(frame.build_id)},
      // Not in the base schema; without it a consumer cannot tell an inlined
      // frame (same address as the next one) from a real call.
      {"inlined", frame.inlined},
  };
}

Json session_ref_json(const std::optional<SessionRef>& session) {
  if (!session) return Json();
  return Json{
      {"api", session->api},
      {"handle", hex_string(session->handle)},
      {"function", string_or_null(session->function)},
      {"file", string_or_null(session->file)},
      {"line", session->line > 0 ? Json(session->line) : Json()},
  };
}

// A session instance: what it is, what it did, what it still held.
Json session_instance_json(const LeakInstance& inst) {
  const SessionFacts& facts = *inst.session_facts;
  Json connections = Json::array();
  for (const HeldConnection& held : facts.connections) {
    connections.push_back(Json{{"fd", held.fd},
                               {"peer", string_or_null(held.peer)},
                               {"local", string_or_null(held.local)},
                               {"tcp_state", string_or_null(held.tcp_state)}});
  }
  return Json{
      {"pid", inst.pid},
      {"api", facts.api},
      {"handle", hex_string(facts.handle)},
      {"opened_ns", inst.opened_ns},
      {"completed_transfers", facts.completed_transfers},
      {"connections_opened", facts.connections_opened},
      {"last_transfer_ns", optional_or_null(facts.last_transfer_ns)},
      {"idle_ns", optional_or_null(inst.idle_ns)},
      {"connections", std::move(connections)},
  };
}

// A connection-growth instance: one creation site of one process.
Json growth_instance_json(const LeakInstance& inst) {
  const GrowthFacts& g = *inst.growth;
  return Json{
      {"pid", inst.pid},
      {"counts", g.sessions ? "sessions" : "sockets"},
      {"api", g.sessions ? Json(g.api) : Json()},
      {"family", string_or_null(inst.family)},
      {"protocol", string_or_null(inst.protocol)},
      {"peer", string_or_null(inst.peer)},
      {"open", g.open},
      {"open_at_window_start", g.open_at_start},
      {"rate_per_minute", g.per_minute},
      {"window_start_ns", inst.opened_ns},
      {"window_end_ns", g.window_end_ns},
      {"window_ns", g.window_ns},
      {"opened_in_window", g.opened},
      {"closed_in_window", g.closed},
      {"opened", g.opened_total},
      {"closed", g.closed_total},
  };
}

Json instance_json(const LeakInstance& inst) {
  if (inst.session_facts) return session_instance_json(inst);
  if (inst.growth) return growth_instance_json(inst);
  return Json{
      {"pid", inst.pid},
      // A session instance has no fd of its own.
      {"fd", inst.fd >= 0 ? Json(inst.fd) : Json()},
      {"family", inst.family},
      {"protocol", inst.protocol},
      {"local", string_or_null(inst.local)},
      {"peer", string_or_null(inst.peer)},
      {"opened_ns", inst.opened_ns},
      {"last_io_ns", optional_or_null(inst.last_io_ns)},
      {"idle_ns", optional_or_null(inst.idle_ns)},
      {"bytes_sent", optional_or_null(inst.bytes_sent)},
      {"bytes_received", optional_or_null(inst.bytes_received)},
      {"tcp_state", string_or_null(inst.tcp_state)},
      {"session", session_ref_json(inst.session)},
      {"listening", inst.listening},
      {"inherited", inst.inherited},
      {"shared_with", inst.shared_with},
  };
}

Json finding_json(const Finding& finding) {
  Json stack = Json::array();
  for (const Frame& frame : finding.stack) stack.push_back(frame_json(frame));
  Json instances = Json::array();
  for (const LeakInstance& inst : finding.instances) instances.push_back(instance_json(inst));
  Json json{
      {"kind", finding.kind},
      {"severity", severity_name(finding.severity)},
      {"count", finding.count()},
      {"pids", finding.pids},
      {"executables", finding.executables},
      {"message", finding.message},
      {"stack", std::move(stack)},
      {"instances", std::move(instances)},
      {"fingerprint", finding.fingerprint},
  };
  if (!finding.baseline_state.empty()) json["baseline_state"] = finding.baseline_state;
  // Only with --gen-suppressions; null when no rule can match the finding.
  if (finding.generated_suppression) json["suppression"] = string_or_null(finding.generated_suppression->rule);
  return json;
}

// Every rule given, with how many leaks it suppressed: 0 marks a stale one.
Json suppressions_json(const Report& report) {
  Json rules = Json::array();
  for (const SuppressionUse& use : report.suppressions) {
    rules.push_back(Json{{"rule", use.rule}, {"location", use.location}, {"matched", use.matched}});
  }
  return rules;
}

Json fixed_json(const Report& report) {
  Json fixed = Json::array();
  for (const FixedFinding& f : report.fixed) {
    fixed.push_back(Json{{"kind", f.kind}, {"message", f.message}, {"fingerprint", f.fingerprint}});
  }
  return fixed;
}

// Sockets it held at its end that another process held longer, and who.
Json shared_at_end_json(const ProcessSummary& proc) {
  Json list = Json::array();
  for (const auto& shared : proc.shared_at_end) list.push_back({{"fd", shared.fd}, {"held_on_by", shared.held_on_by}});
  return list;
}

Json process_json(const ProcessSummary& proc) {
  return Json{
      {"pid", proc.pid},
      {"ppid", proc.ppid},
      {"exe", proc.exe},
      {"argv", proc.argv},
      {"start_ns", proc.start_ns},
      {"end_ns", proc.end_ns},
      // The schema's "end" is an enum; never emit "" for it.
      {"end", proc.end.empty() ? std::string("unknown") : proc.end},
      {"exit_status", optional_or_null(proc.exit_status)},
      {"signal", optional_or_null(proc.signal)},
      {"trace", proc.trace},
      {"lost_events", proc.lost_events},
      {"stacks_omitted", proc.stacks_omitted},
      {"untraced_children", proc.untraced_children},
      {"shared_at_end", shared_at_end_json(proc)},
      // A bounded trace: history before this was summarized by a checkpoint.
      {"history_summarized_before_ns", optional_or_null(proc.history_summarized_before_ns)},
      {"closed_sockets_summarized", proc.closed_sockets_summarized},
  };
}

Json summary_json(const Summary& summary) {
  return Json{
      {"findings", summary.findings},
      {"errors", summary.errors},
      {"warnings", summary.warnings},
      {"sockets_opened", summary.sockets_opened},
      {"sessions_created", summary.sessions_created},
      {"processes", summary.processes},
  };
}

Json report_json(const Report& report) {
  Json processes = Json::array();
  for (const ProcessSummary& proc : report.processes) processes.push_back(process_json(proc));
  Json findings = Json::array();
  for (const Finding& finding : report.findings) findings.push_back(finding_json(finding));
  Json json{
      {"schema", "connleak-report/1"},
      {"tool", Json{{"name", "connleak"}, {"version", report.tool_version}}},
      {"processes", std::move(processes)},
      {"findings", std::move(findings)},
      {"summary", summary_json(report.summary)},
      {"suppressions", suppressions_json(report)},
  };
  if (report.has_baseline) json["fixed"] = fixed_json(report);
  return json;
}

}  // namespace

void render_json(const Report& report, std::ostream& out) {
  // Paths and argv come from the traced program and need not be UTF-8;
  // replace bad bytes (U+FFFD) instead of throwing halfway through a report.
  out << report_json(report).dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
}

}  // namespace connleak
