// Suppressions, in the style of LeakSanitizer: a text file, one rule per
// line, `KIND:PATTERN`, `#` comments. PATTERN matches a function, source
// file or module name of any frame of a finding's stack: as a substring,
// with `*` for any run of characters and `^`/`$` to anchor. `leak:` matches
// every kind.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "report.h"

namespace connleak {

// "FILE:LINE: what is wrong", or "FILE: cannot read".
struct SuppressionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct SuppressionRule {
  std::string kind;      // a finding kind, or "leak" for all
  std::string pattern;
  std::string location;  // "FILE:LINE"
};

// Reads every file; throws SuppressionError on the first bad line.
std::vector<SuppressionRule> load_suppressions(const std::vector<std::string>& files);

// True when `pattern` (with *, ^, $) matches `text` as LeakSanitizer would.
bool template_match(const std::string& pattern, const std::string& text);

// Drops the findings a rule matches (the first matching rule counts it) and
// lists every rule with its count in report.suppressions.
void apply_suppressions(Report& report, const std::vector<SuppressionRule>& rules);

}  // namespace connleak
