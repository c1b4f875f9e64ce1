// JUnit XML for CI test-report views (GitLab, Jenkins, ...): one test suite
// per executable, one test case per leak site in it. Errors are failed test
// cases; warnings are passing ones that carry their text. The text of each
// case is the text report's block for that finding, so both read the same.
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "render/render.h"

namespace connleak {
namespace {

// Text for XML 1.0 content or a double-quoted attribute value: the five
// special characters as entities; tab, newline and carriage return kept
// (as character references in attributes, which would otherwise normalize
// them to spaces); every other character XML 1.0 forbids (other controls,
// U+FFFE, U+FFFF) and every byte that is not valid UTF-8 as U+FFFD.
std::string xml_escape(const std::string& text, bool attribute) {
  static const std::string kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      // A raw CR would be read back as a newline, so it is a reference too.
      const char* special = c == '&'    ? "&amp;"
                            : c == '<'  ? "&lt;"
                            : c == '>'  ? "&gt;"
                            : c == '"'  ? "&quot;"
                            : c == '\'' ? "&apos;"
                            : c == '\r' ? "&#13;"
                            : c == '\t' ? (attribute ? "&#9;" : "\t")
                            : c == '\n' ? (attribute ? "&#10;" : "\n")
                                        : nullptr;
      if (special != nullptr)
        out += special;
      else if (c < 0x20 || c == 0x7f)
        out += kReplacement;
      else
        out += static_cast<char>(c);
      ++i;
      continue;
    }
    // A UTF-8 sequence: its length from the lead byte, then its continuation
    // bytes; overlong forms, surrogates and values past U+10FFFF are invalid.
    const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    uint32_t cp = len == 4 ? c & 0x07 : len == 3 ? c & 0x0F : c & 0x1F;
    size_t n = 1;
    while (len != 0 && n < len && i + n < text.size() &&
           (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) {
      cp = (cp << 6) | (static_cast<unsigned char>(text[i + n]) & 0x3F);
      ++n;
    }
    const bool valid = len != 0 && n == len && c <= 0xF4 && !(len == 3 && cp < 0x800) &&
                       !(len == 4 && cp < 0x10000) && !(cp >= 0xD800 && cp <= 0xDFFF) &&
                       cp <= 0x10FFFF && cp != 0xFFFE && cp != 0xFFFF;
    out += valid ? text.substr(i, n) : kReplacement;
    i += n;  // n >= 1: an invalid sequence is consumed up to its first bad byte
  }
  return out;
}

std::string file_name(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

// "open_conn (leak.c:12)": the leak site, at the first frame with source
// (as in SARIF); else the first named function and its module.
std::string site_name(const Finding& finding) {
  for (const Frame& frame : finding.stack) {
    if (frame.file.empty() || frame.line <= 0) continue;
    const std::string function = frame.function.empty() ? "<unknown function>" : frame.function;
    return function + " (" + file_name(frame.file) + ":" + std::to_string(frame.line) + ")";
  }
  for (const Frame& frame : finding.stack) {
    if (frame.function.empty()) continue;
    return frame.function + " (" +
           (frame.module.empty() ? std::string("<unknown module>") : file_name(frame.module)) + ")";
  }
  return "<unknown site>";
}

// The text report's block for this one finding (headline, stack, instances),
// rendered from a report that holds only it and the processes it involves.
std::string finding_text(const Report& report, const Finding& finding) {
  Report one;
  one.tool_version = report.tool_version;
  one.findings = {finding};
  std::set<int> pids(finding.pids.begin(), finding.pids.end());
  for (const LeakInstance& inst : finding.instances) pids.insert(inst.pid);
  for (const ProcessSummary& proc : report.processes) {
    if (!pids.count(proc.pid)) continue;
    one.processes.push_back(proc);
    one.processes.back().lost_events = 0;  // a note about the run, not this finding
    one.processes.back().untraced_children = 0;
  }
  std::ostringstream out;
  render_text(one, out);
  std::string text = out.str();
  // Drop the SUMMARY: line and the blank line before it.
  const size_t summary = text.rfind("\nSUMMARY: ");
  if (summary != std::string::npos) text.erase(summary + 1);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

struct TestCase {
  std::string classname;
  std::string name;
  std::string severity;  // "error", "warning", "" for the "no leaks" case
  std::string type;      // the finding kind
  std::string message;
  std::string text;
  std::string baseline_state;
};

using Suites = std::map<std::string, std::vector<TestCase>>;

// The suites a finding goes in: its executables; else those of its pids;
// else the catch-all "connleak".
std::vector<std::string> suites_of(const Report& report, const Finding& finding) {
  std::set<std::string> names(finding.executables.begin(), finding.executables.end());
  names.erase("");
  if (names.empty()) {
    for (const ProcessSummary& proc : report.processes)
      for (int pid : finding.pids)
        if (proc.pid == pid && !proc.exe.empty()) names.insert(proc.exe);
  }
  if (names.empty()) names.insert("connleak");
  return {names.begin(), names.end()};
}

// Two leak sites can share a name (the same innermost line reached from two
// callers); number the later ones so every case in a suite is distinct.
void add_case(std::vector<TestCase>& cases, TestCase test) {
  const std::string base = test.name;
  for (int n = 2;; ++n) {
    bool taken = false;
    for (const TestCase& other : cases)
      taken = taken || (other.classname == test.classname && other.name == test.name);
    if (!taken) break;
    test.name = base + " #" + std::to_string(n);
  }
  cases.push_back(std::move(test));
}

Suites collect(const Report& report) {
  Suites suites;
  for (const Finding& finding : report.findings) {
    TestCase test;
    test.classname = "connleak." + finding.kind;
    test.name = site_name(finding);
    test.severity = finding.severity == Severity::kWarning ? "warning" : "error";
    test.type = finding.kind;
    test.message = finding.message;
    test.text = finding_text(report, finding);
    test.baseline_state = finding.baseline_state;
    for (const std::string& suite : suites_of(report, finding)) add_case(suites[suite], test);
  }
  // Events the shim could not record fail the run: it is incomplete.
  for (const ProcessSummary& proc : report.processes) {
    if (!is_incomplete(proc)) continue;
    std::string message = missing_from(proc) + "; the report is incomplete";
    suites[proc.exe.empty() ? "connleak" : proc.exe].push_back(
        {"connleak.incomplete", "pid " + std::to_string(proc.pid), "error", "lost-events", message, message, ""});
  }
  if (!report.findings.empty()) return suites;
  // A clean run still shows up in the test report, one passing case per
  // executable that ran.
  for (const ProcessSummary& proc : report.processes)
    if (!proc.exe.empty() && !suites.count(proc.exe))
      suites[proc.exe].push_back({"connleak", "no leaks", "", "", "", "", ""});
  if (suites.empty()) suites["connleak"].push_back({"connleak", "no leaks", "", "", "", "", ""});
  return suites;
}

size_t failures_in(const std::vector<TestCase>& cases) {
  size_t failures = 0;
  for (const TestCase& test : cases) failures += test.severity == "error";
  return failures;
}

void write_case(const TestCase& test, std::ostream& out) {
  out << "    <testcase classname=\"" << xml_escape(test.classname, true) << "\" name=\""
      << xml_escape(test.name, true) << "\"";
  if (test.severity.empty()) {
    out << "/>\n";
    return;
  }
  out << ">\n      <properties>\n"
      << "        <property name=\"severity\" value=\"" << test.severity << "\"/>\n";
  if (!test.baseline_state.empty())
    out << "        <property name=\"baseline_state\" value=\""
        << xml_escape(test.baseline_state, true) << "\"/>\n";
  out << "      </properties>\n";
  if (test.severity == "error") {
    out << "      <failure type=\"" << xml_escape(test.type, true) << "\" message=\""
        << xml_escape(test.message, true) << "\">" << xml_escape(test.text, false)
        << "</failure>\n";
  } else {
    out << "      <system-out>" << xml_escape(test.text, false) << "</system-out>\n";
  }
  out << "    </testcase>\n";
}

}  // namespace

void render_junit(const Report& report, std::ostream& out) {
  const Suites suites = collect(report);
  size_t tests = 0;
  size_t failures = 0;
  for (const auto& [name, cases] : suites) {
    tests += cases.size();
    failures += failures_in(cases);
  }
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<testsuites name=\"connleak\" tests=\"" << tests << "\" failures=\"" << failures
      << "\" errors=\"0\">\n";
  for (const auto& [name, cases] : suites) {
    out << "  <testsuite name=\"" << xml_escape(name, true) << "\" tests=\"" << cases.size()
        << "\" failures=\"" << failures_in(cases) << "\" errors=\"0\" skipped=\"0\">\n";
    for (const TestCase& test : cases) write_case(test, out);
    out << "  </testsuite>\n";
  }
  out << "</testsuites>\n";
}

}  // namespace connleak
