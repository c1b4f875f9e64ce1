#include "report/report.h"

#include <cstdio>

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace connleak {
namespace {

// The order kinds appear in on the SUMMARY: line: fixed, so that CI logs of
// two runs can be compared line by line.
constexpr std::array<std::string_view, 10> kKindOrder = {
    "leaked-connection", "leaked-socket",    "leaked-session", "dead-connection",   "stale-connection",
    "stale-session",     "connection-growth", "inherited-socket", "session-churn", "bad-close",
};

struct KindCount {
  std::string kind;
  size_t findings = 0;
  size_t instances = 0;
};

std::string plural(size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

// Kinds in kKindOrder first; a kind the list does not know yet (a newer
// detector) still gets counted, after them, in order of first appearance.
std::vector<KindCount> count_by_kind(const Report& report) {
  std::vector<KindCount> counts;
  for (std::string_view kind : kKindOrder) counts.push_back({std::string(kind)});
  for (const Finding& finding : report.findings) {
    KindCount* slot = nullptr;
    for (KindCount& c : counts) {
      if (c.kind == finding.kind) slot = &c;
    }
    if (slot == nullptr) slot = &counts.emplace_back(KindCount{finding.kind});
    slot->findings += 1;
    slot->instances += finding.count();
  }
  return counts;
}

std::string suppressed_note(const Report& report) {
  size_t suppressed = 0;
  for (const SuppressionUse& use : report.suppressions) suppressed += use.matched;
  return suppressed ? "; " + std::to_string(suppressed) + " suppressed" : "";
}

// With a baseline, what changed: only new error findings fail a build.
std::string baseline_note(const Report& report) {
  if (!report.has_baseline) return "";
  size_t fresh = 0, unchanged = 0;
  for (const Finding& f : report.findings) (f.baseline_state == "new" ? fresh : unchanged)++;
  return "; against the baseline: " + std::to_string(fresh) + " new, " + std::to_string(unchanged) +
         " still present, " + std::to_string(report.fixed.size()) + " fixed";
}

}  // namespace

// FNV-1a over the kind and, per frame, its function and source file name
// (not the directory, not the line, not the address): stable across runs,
// machines and small edits.
std::string fingerprint_of(const Finding& f) {
  uint64_t hash = 0xcbf29ce484222325ull;
  auto mix = [&](const std::string& text) {
    for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ull;
    hash = (hash ^ 0xff) * 0x100000001b3ull;
  };
  mix(f.kind);
  for (const Frame& frame : f.stack) {
    mix(frame.function.empty() ? frame.module.substr(frame.module.find_last_of('/') + 1) : frame.function);
    mix(frame.file.substr(frame.file.find_last_of('/') + 1));
  }
  char text[17];
  snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

std::string missing_from(const ProcessSummary& proc) {
  std::string parts;
  if (proc.lost_events) parts = plural(proc.lost_events, "event", "events") + " could not be recorded";
  if (proc.untraced_children) {
    parts += (parts.empty() ? "" : ", ") + plural(proc.untraced_children, "forked child", "forked children") +
             " left no trace";
  }
  return parts;
}

std::string summary_line(const Report& report) {
  std::string kinds;
  for (const KindCount& c : count_by_kind(report)) {
    if (c.findings == 0) continue;
    if (!kinds.empty()) kinds += ", ";
    kinds += std::to_string(c.findings) + " " + c.kind + " (" +
             plural(c.instances, "instance", "instances") + ")";
  }
  const std::string where =
      " in " + plural(report.summary.processes, "process", "processes");
  // An incomplete trace never reads as a clean one.
  std::string missing;
  for (const ProcessSummary& proc : report.processes)
    if (is_incomplete(proc)) missing += (missing.empty() ? "" : "; ") + ("pid " + std::to_string(proc.pid) + ": " + missing_from(proc));
  std::string line = kinds.empty() ? (missing.empty() ? "SUMMARY: connleak: no leaks" : "SUMMARY: connleak: no leaks in the recorded events") + where
                                   : "SUMMARY: connleak: " + kinds + where;
  if (!missing.empty()) line += "; INCOMPLETE: " + missing;
  return line + suppressed_note(report) + baseline_note(report);
}

}  // namespace connleak
