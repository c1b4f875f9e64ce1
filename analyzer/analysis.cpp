#include "analysis.h"

#include "symbols/debug_symbols.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <ostream>

#include "detectors/detectors.h"
#include "model/model.h"
#include "render/render.h"
#include "report/report_builder.h"
#include "symbols/symbolizer.h"
#include "report/timeline_builder.h"
#include "trace/trace_reader.h"
#include "version.h"

namespace connleak {

namespace fs = std::filesystem;
namespace {

// The root process's last image gets the status its parent (connleak run)
// saw, which a killed process could not write itself.
void apply_root_status(Model& model, const RootStatus& root) {
  ProcessLife* last = nullptr;
  for (auto& p : model.processes) {
    if (p.pid == root.pid && !p.forked && (!last || p.start_mono_ns > last->start_mono_ns)) last = &p;
  }
  if (!last || last->end == ProcessEnd::kExec) return;
  if (root.signal) {
    last->end = ProcessEnd::kSignal;
    last->signal = root.signal;
  } else if (!last->exit_status) {
    last->exit_status = root.exit_status;
  }
}

}  // namespace

AnalysisResult analyze_traces(const std::vector<std::string>& inputs, const AnalysisOptions& options) {
  std::vector<TraceFile> traces;
  std::vector<std::string> unusable;
  const std::set<fs::path> named(inputs.begin(), inputs.end());
  for (const auto& path : find_trace_files(inputs)) {
    if (options.skip_traces.count(path.filename().string()) && !named.count(path)) continue;
    try {
      traces.emplace_back(path);
    } catch (const TraceError& e) {
      // A file named on the command line is an error; one found in a
      // directory (a 0-byte trace left by a full disk, a stray file) is
      // left out with a warning, and the rest is reported.
      if (named.count(path)) throw;
      unusable.push_back(e.what());
    }
  }
  if (traces.empty() && !unusable.empty()) throw TraceError(unusable.front());
  if (traces.empty()) throw TraceError("no connleak traces of this run (connleak.*.trace) in the given directories");
  ModelOptions model_options;
  model_options.keep_closed = options.timeline;
  Model model = build_model(traces, model_options);
  for (const auto& why : unusable) model.warnings.push_back(why + " (left out of this report)");
  if (options.root) apply_root_status(model, *options.root);
  Symbolizer symbolizer;
  AnalysisResult result;
  result.report = build_report(model, run_detectors(model, options.detectors), symbolizer, tool_version());
  if (!options.suppressions.empty()) {
    apply_suppressions(result.report, options.suppressions);
    count_findings(result.report);
  }
  if (options.baseline) apply_baseline(result.report, *options.baseline);
  if (options.gen_suppressions) generate_suppressions(result.report);
  if (options.timeline) result.report.timeline = build_timeline(model, result.report, symbolizer);
  result.report.symbols_hint = debug_symbols_hint(result.report);
  result.warnings = model.warnings;
  for (const auto& p : model.processes) {
    if (p.lost_events) {
      result.warnings.push_back("pid " + std::to_string(p.pid) + ": " + std::to_string(p.lost_events) +
                                " events could not be recorded; the report may be incomplete");
    }
  }
  for (const auto& w : symbolizer.warnings()) result.warnings.push_back(w);
  return result;
}

const std::vector<std::string>& report_formats() {
  static const std::vector<std::string> formats = {"text", "json", "sarif", "junit", "html", "chrome-trace"};
  return formats;
}

bool needs_timeline(const std::string& format) { return format == "html" || format == "chrome-trace"; }

void render(const Report& report, const std::string& format, const RenderSettings& settings, std::ostream& out) {
  if (format == "json") {
    render_json(report, out);
  } else if (format == "sarif") {
    render_sarif(report, SarifOptions{settings.source_root}, out);
  } else if (format == "junit") {
    render_junit(report, out);
  } else if (format == "html") {
    render_html(report, out);
  } else if (format == "chrome-trace") {
    render_chrome_trace(report, out);
  } else {
    render_text(report, out);
  }
}

size_t counted_errors(const Report& report) {
  return size_t(std::count_if(report.findings.begin(), report.findings.end(), [&](const Finding& f) {
    return f.severity == Severity::kError && (!report.has_baseline || f.baseline_state == "new");
  }));
}

std::string tool_version() { return CONNLEAK_VERSION; }

}  // namespace connleak
