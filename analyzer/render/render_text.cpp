// The text report, modelled on LeakSanitizer's so that it reads familiarly
// in a CI log: a headline per finding, the creation stack as "#N 0xADDR in
// function file:line", the leaked instances, and one SUMMARY: line at the end.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "render/render.h"
#include "report/suppressions.h"

namespace connleak {
namespace {

// More instances than this make a finding unreadable in a log; the JSON
// report has them all.
constexpr size_t kMaxInstancesShown = 10;

constexpr const char* kBoldRed = "\x1b[1;31m";
constexpr const char* kBoldMagenta = "\x1b[1;35m";
constexpr const char* kBold = "\x1b[1m";
constexpr const char* kReset = "\x1b[0m";

// Durations with millisecond precision: finer is noise at this level.
std::string seconds(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", static_cast<double>(ns) / 1e9);
  return buf;
}

std::string plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// "in f file:line", "in f (module+0xOFFSET)", or "(module+0xOFFSET)" when
// even the function is unknown, as LeakSanitizer does: the offset is what
// addr2line -e module takes.
std::string frame_line(size_t index, const Frame& frame) {
  std::string line = "    #" + std::to_string(index) + " " + hex_string(frame.address);
  if (!frame.function.empty()) line += " in " + frame.function;
  if (!frame.file.empty()) {
    line += " " + frame.file;
    if (frame.line > 0) line += ":" + std::to_string(frame.line);
  } else {
    line += " (" + (frame.module.empty() ? std::string("<unknown module>") : frame.module + "+" + hex_string(frame.module_offset)) + ")";
  }
  if (frame.inlined) line += " (inlined)";
  return line;
}

// Whether the instance was opened during this image's lifetime.
bool covers(const ProcessSummary& proc, const LeakInstance& inst) {
  return proc.start_ns != 0 && proc.start_ns <= inst.opened_ns &&
         (proc.end_ns == 0 || inst.opened_ns <= proc.end_ns);
}

// The process image the instance was opened in. A pid can have several
// images (one per exec): prefer the one whose lifetime covers the opening,
// else the last one seen (e.g. a socket inherited across fork, which was
// opened before the child started).
const ProcessSummary* find_process(const Report& report, const LeakInstance& inst) {
  const ProcessSummary* last = nullptr;
  for (const ProcessSummary& proc : report.processes) {
    if (proc.pid != inst.pid) continue;
    last = &proc;
    if (covers(proc, inst)) return &proc;
  }
  return last;
}

// "local -> peer", leaving out what is unknown; "family protocol" when no
// address is known at all, so the line still says what kind of socket it is.
std::string endpoints(const LeakInstance& inst) {
  if (inst.local.empty() && inst.peer.empty()) {
    std::string kind = inst.family;
    if (!inst.protocol.empty()) kind += (kind.empty() ? "" : " ") + inst.protocol;
    return kind.empty() ? std::string() : kind + " socket";
  }
  if (inst.peer.empty()) return inst.local;
  if (inst.local.empty()) return "-> " + inst.peer;
  return inst.local + " -> " + inst.peer;
}

// "the curl_easy session created at fetch_user (api.c:42)"
std::string session_phrase(const SessionRef& session) {
  std::string phrase = "the " + session.api + " session";
  if (session.function.empty()) return phrase;
  phrase += " created at " + session.function;
  if (!session.file.empty()) {
    std::string file = session.file.substr(session.file.find_last_of('/') + 1);
    phrase += " (" + file + (session.line > 0 ? ":" + std::to_string(session.line) : "") + ")";
  }
  return phrase;
}

// A session instance: what it did and what it still holds, so a leaked
// session and its connections read as one story.
std::string session_line(const Report& report, const LeakInstance& inst) {
  const SessionFacts& facts = *inst.session_facts;
  const ProcessSummary* proc = find_process(report, inst);
  char handle[32];
  std::snprintf(handle, sizeof handle, "0x%llx", static_cast<unsigned long long>(facts.handle));
  std::string line = "  in pid " + std::to_string(inst.pid);
  if (proc != nullptr && !proc->exe.empty()) line += " (" + proc->exe + ")";
  line += ": " + facts.api + " " + handle + ", " +
          plural(facts.completed_transfers, "completed transfer", "completed transfers");
  if (inst.idle_ns) line += ", idle for " + seconds(*inst.idle_ns) + " after its last transfer";
  if (facts.connections.empty()) return line;
  line += ", still holding " + plural(facts.connections.size(), "connection:", "connections:");
  for (const HeldConnection& held : facts.connections) {
    line += " fd " + std::to_string(held.fd);
    if (!held.local.empty() || !held.peer.empty()) line += " " + held.local + " -> " + held.peer;
    if (!held.tcp_state.empty()) line += " (" + held.tcp_state + ")";
    if (&held != &facts.connections.back()) line += ";";
  }
  return line;
}

// The comma-separated facts after the endpoints; only the known ones.
std::vector<std::string> instance_facts(const LeakInstance& inst, const ProcessSummary* proc) {
  std::vector<std::string> facts;
  bool peer_closed = inst.tcp_state == "CLOSE_WAIT";
  if (!inst.tcp_state.empty() && !peer_closed) facts.push_back(inst.tcp_state);
  // "LISTEN, listening" would say the same thing twice.
  if (inst.listening && inst.tcp_state != "LISTEN") facts.push_back("listening");
  if (inst.inherited) facts.push_back("inherited from the parent process");
  if (inst.session) facts.push_back("held by " + session_phrase(*inst.session));
  // Relative time only: absolute timestamps mean nothing in a CI log.
  if (proc != nullptr && covers(*proc, inst))
    facts.push_back("opened " + seconds(inst.opened_ns - proc->start_ns) +
                    " after the process started");
  if (inst.bytes_sent) facts.push_back(plural(*inst.bytes_sent, "byte", "bytes") + " sent");
  if (inst.bytes_received)
    facts.push_back(plural(*inst.bytes_received, "byte", "bytes") + " received");
  bool no_io = inst.bytes_sent == uint64_t(0) && inst.bytes_received == uint64_t(0);
  if (no_io) facts.push_back("never used for I/O");
  if (inst.idle_ns) facts.push_back("idle for " + seconds(*inst.idle_ns) + " after its last I/O");
  if (peer_closed) facts.push_back("the peer had already closed it (CLOSE_WAIT)");
  return facts;
}

// A creation site's growth: where its open count went and how fast.
std::string growth_line(const Report& report, const LeakInstance& inst) {
  const GrowthFacts& g = *inst.growth;
  const ProcessSummary* proc = find_process(report, inst);
  std::string line = "  in pid " + std::to_string(inst.pid);
  if (proc != nullptr && !proc->exe.empty()) line += " (" + proc->exe + ")";
  char rate[32];
  std::snprintf(rate, sizeof rate, "%+.1f", g.per_minute);
  line += ": " + std::to_string(g.open) + " open, " + rate + " per minute over " + seconds(g.window_ns) + " (" +
          std::to_string(g.open_at_start) + " open at its start; " + std::to_string(g.opened) + " opened and " +
          std::to_string(g.closed) + " closed in that time; " + std::to_string(g.opened_total) + " opened, " +
          std::to_string(g.closed_total) + " closed in all)";
  if (!inst.peer.empty()) line += ", the newest to " + inst.peer;
  return line;
}

std::string instance_line(const Report& report, const LeakInstance& inst) {
  if (inst.session_facts) return session_line(report, inst);
  if (inst.growth) return growth_line(report, inst);
  const ProcessSummary* proc = find_process(report, inst);
  std::string line = "  in pid " + std::to_string(inst.pid);
  if (proc != nullptr && !proc->exe.empty()) line += " (" + proc->exe + ")";
  line += ":";
  if (inst.fd >= 0) line += " fd " + std::to_string(inst.fd);
  const std::string ends = endpoints(inst);
  if (!ends.empty()) line += " " + ends;
  for (const std::string& fact : instance_facts(inst, proc)) line += ", " + fact;
  return line;
}

void render_headline(const Finding& finding, std::ostream& out, bool color) {
  std::string text = "connleak: " + finding.kind + ": " + finding.message;
  if (finding.baseline_state == "new") text += " [new]";
  if (finding.baseline_state == "unchanged") text += " [still present, in the baseline]";
  if (!color) {
    out << text << '\n';
    return;
  }
  const char* tint = finding.severity == Severity::kWarning ? kBoldMagenta : kBoldRed;
  out << tint << text << kReset << '\n';
}

void render_finding(const Report& report, const Finding& finding, std::ostream& out,
                    bool color) {
  render_headline(finding, out, color);
  if (finding.stack.empty()) out << "    (no stack was recorded)\n";
  for (size_t i = 0; i < finding.stack.size(); ++i) out << frame_line(i, finding.stack[i]) << '\n';
  const size_t shown = std::min(finding.instances.size(), kMaxInstancesShown);
  for (size_t i = 0; i < shown; ++i) out << instance_line(report, finding.instances[i]) << '\n';
  if (finding.instances.size() > shown)
    out << "  ... and " << finding.instances.size() - shown << " more\n";
}

// As LeakSanitizer does: every rule with its count, so stale ones show.
void render_suppressions(const Report& report, std::ostream& out) {
  if (report.suppressions.empty()) return;
  out << "connleak: suppressions used:\n";
  for (const SuppressionUse& use : report.suppressions) {
    out << "  " << use.matched << " " << use.rule << " (" << use.location << ")"
        << (use.matched == 0 ? " -- matched nothing; remove it?" : "") << '\n';
  }
}

void render_fixed(const Report& report, std::ostream& out) {
  if (!report.has_baseline) return;
  for (const FixedFinding& fixed : report.fixed) {
    out << "connleak: fixed since the baseline: " << fixed.kind << ": " << fixed.message << '\n';
  }
}

// Lost events mean the trace, and so the report, may be missing leaks;
// say so rather than let an incomplete report pass as clean.
void render_lost_events(const Report& report, std::ostream& out) {
  for (const ProcessSummary& proc : report.processes) {
    if (!is_incomplete(proc)) continue;
    out << "connleak: note: pid " << proc.pid << ": " << missing_from(proc) << "; this report may be incomplete\n";
  }
}

// A running process's open sockets are no leaks yet: say which were left
// out of the judgement.
void render_running(const Report& report, std::ostream& out) {
  for (const ProcessSummary& proc : report.processes) {
    if (proc.end != "running") continue;
    out << "connleak: note: pid " << proc.pid << " (" << proc.exe
        << ") is still running: the sockets and sessions it holds now are not judged as leaked at exit\n";
  }
}

// A bounded trace kept the open resources and the counts of what it
// dropped: say what the report cannot list.
void render_summarized_history(const Report& report, std::ostream& out) {
  for (const ProcessSummary& proc : report.processes) {
    if (!proc.history_summarized_before_ns) continue;
    time_t seconds = time_t(*proc.history_summarized_before_ns / 1'000'000'000);
    char clock[16];
    tm local{};
    localtime_r(&seconds, &local);
    strftime(clock, sizeof(clock), "%H:%M:%S", &local);
    out << "connleak: note: pid " << proc.pid << ": history before " << clock
        << " was summarized by a checkpoint (" << plural(proc.closed_sockets_summarized, "closed socket", "closed sockets")
        << " not listed); open sockets and sessions are reported in full\n";
  }
}

}  // namespace

void render_text(const Report& report, std::ostream& out, bool color) {
  for (const Finding& finding : report.findings) {
    render_finding(report, finding, out, color);
    out << '\n';
  }
  bool lost = std::any_of(report.processes.begin(), report.processes.end(),
                          [](const ProcessSummary& proc) { return is_incomplete(proc); });
  if (report.findings.empty())
    out << (lost ? "connleak: no leaks found in the events recorded from " : "connleak: no leaks found in ")
        << plural(report.summary.processes, "process", "processes") << '\n';
  // --gen-suppressions: all rules in one block that is a suppressions file
  // as it stands (comments and rules only), to copy whole or in part.
  out << suppressions_file_text(report);
  render_suppressions(report, out);
  render_fixed(report, out);
  render_lost_events(report, out);
  render_running(report, out);
  render_summarized_history(report, out);
  if (!report.symbols_hint.empty()) out << "connleak: note: " << report.symbols_hint << '\n';
  if (color)
    out << kBold << summary_line(report) << kReset << '\n';
  else
    out << summary_line(report) << '\n';
}

}  // namespace connleak
