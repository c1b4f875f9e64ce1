// Baselines: a previous JSON report. With one, only findings that are not in
// it are "new" and count toward the exit code; the report says which leak
// sites are still present and which were fixed. Findings are matched by
// their fingerprint (kind, functions and source files of the stack), so
// edits that move lines keep a leak's identity.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "report/report.h"

namespace connleak {

struct BaselineError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Reads a connleak-report/1 JSON file. Throws BaselineError naming the file.
std::vector<FixedFinding> load_baseline(const std::string& path);

// Marks each finding "new" or "unchanged" and lists the baseline's findings
// that are gone as report.fixed.
void apply_baseline(Report& report, const std::vector<FixedFinding>& baseline);

}  // namespace connleak
