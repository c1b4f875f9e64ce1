// Suppressions, in the style of LeakSanitizer: a text file, one rule per
// line, `KIND:PATTERN`, `#` comments. PATTERN matches a function, source
// file or module name of any frame of a finding's stack: as a substring,
// with `*` for any run of characters and `^`/`$` to anchor. `leak:` matches
// every kind.
//
// --gen-suppressions writes such rules: for each finding, one that names
// the innermost function of the program's own code on its stack (anchored,
// `^open_conn$`), or that function's module when it has no symbols.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "report/report.h"

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

// One line of a suppressions file as load_suppressions reads it: nullopt for
// a blank or comment line; throws SuppressionError (naming `location`) for a
// bad one.
std::optional<SuppressionRule> parse_suppression_line(const std::string& line, const std::string& location);

// True when `pattern` (with *, ^, $) matches `text` as LeakSanitizer would.
bool template_match(const std::string& pattern, const std::string& text);

// True when `rule` suppresses `finding` (its kind, and its pattern matches a
// function, file or module of any frame).
bool suppression_matches(const SuppressionRule& rule, const Finding& finding);

// Drops the findings a rule matches (the first matching rule counts it) and
// lists every rule with its count in report.suppressions.
void apply_suppressions(Report& report, const std::vector<SuppressionRule>& rules);

// The pattern that matches exactly `name` (a function or module name):
// anchored with ^ and $; the characters no pattern can spell (`*`, `#`,
// control characters) become `*` and set `wildcarded`. (`^` and `$` inside
// an anchored pattern are literal and need nothing.)
std::string exact_pattern(const std::string& name, bool* wildcarded = nullptr);

// The rule that suppresses report.findings[index], as specific as a rule
// can be, and no broader than its kind plus one function or module:
// - the frames of the program's own code (the traced executables, and every
//   module outside /lib and /usr/lib) are preferred, innermost first; when
//   the stack has none, every frame is a candidate;
// - a frame with a function name gives `KIND:^function$`; of those, the
//   innermost that matches no other finding of the report wins, else the
//   innermost (also_matches says how many others it covers);
// - without any function name: the module, `KIND:/basename$`;
// - no stack: no rule (an empty GeneratedSuppression::rule).
// Every rule is checked with the matcher itself: fed back through
// --suppressions, it suppresses this finding.
GeneratedSuppression generate_suppression(const std::vector<Finding>& findings, size_t index);

// Sets Finding::generated_suppression of every finding.
void generate_suppressions(Report& report);

// The generated rules as a suppressions file: a header comment, then per
// finding a `#` comment naming it (kind, the first words of its message,
// where it was created) and its rule; the rules that suppress their finding
// alone come first, a rule is written once. "" when no finding has a
// generated suppression (none asked for, or no findings).
std::string suppressions_file_text(const Report& report);

}  // namespace connleak
