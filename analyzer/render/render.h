// Renderers of the leak report. Each takes the one Report model, so every
// format says the same thing; they only differ in how.
#pragma once

#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string>

#include "report/report.h"

namespace connleak {

// "0x1f": how addresses and handles are written in every format (a string
// in JSON: 64-bit values do not survive JavaScript numbers).
inline std::string hex_string(uint64_t value) {
  char buf[2 + 16 + 1];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

// The human-readable report, in the style of LeakSanitizer's: one block per
// finding (headline, creation stack, instances), then the SUMMARY: line.
// `color` adds ANSI colour to the headlines (for a terminal).
void render_text(const Report& report, std::ostream& out, bool color = false);

// The machine-readable report, schema "connleak-report/1" (docs: DESIGN.md,
// "JSON report"), pretty-printed with a trailing newline.
void render_json(const Report& report, std::ostream& out);

struct SarifOptions {
  // Source paths in the report are made relative to this directory (absolute
  // path) and given uriBaseId "SRCROOT"; files outside it stay absolute.
  std::string source_root;
};

// SARIF 2.1.0 for code-scanning annotations: one rule per finding kind, one
// result per finding.
void render_sarif(const Report& report, const SarifOptions& options, std::ostream& out);

// JUnit XML for test-report views: one test case per leak site, grouped in
// one test suite per executable.
void render_junit(const Report& report, std::ostream& out);

// One self-contained HTML page (no network resources): the summary, the
// findings, and the timeline of every process, session and connection
// (Report::timeline), drawn by inline script.
void render_html(const Report& report, std::ostream& out);

// The timeline as Chrome Trace Event JSON (ui.perfetto.dev,
// chrome://tracing): one async begin/end pair per session or socket,
// instant events for connect, close, fork, exec and bad closes, a counter
// of open connections per process.
void render_chrome_trace(const Report& report, std::ostream& out);

}  // namespace connleak
