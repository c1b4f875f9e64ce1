#include "report/suppressions.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <set>
#include <string_view>
#include <unordered_map>

namespace connleak {
namespace {

// Every finding kind of DESIGN.md, and "leak" for all of them.
constexpr std::array<const char*, 11> kKinds = {
    "leak",          "leaked-connection", "leaked-socket",   "leaked-session",   "inherited-socket", "session-churn",
    "bad-close",     "stale-session",     "stale-connection", "dead-connection", "connection-growth"};

std::string trim(const std::string& s) {
  size_t first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

SuppressionRule parse_rule(const std::string& line, const std::string& location) {
  size_t colon = line.find(':');
  if (colon == std::string::npos) {
    throw SuppressionError(location + ": expected KIND:PATTERN, got '" + line + "'");
  }
  SuppressionRule rule{trim(line.substr(0, colon)), trim(line.substr(colon + 1)), location};
  if (std::find(kKinds.begin(), kKinds.end(), rule.kind) == kKinds.end()) {
    std::string known;
    for (const char* k : kKinds) known += std::string(known.empty() ? "" : ", ") + k;
    throw SuppressionError(location + ": unknown kind '" + rule.kind + "' (one of: " + known + ")");
  }
  if (rule.pattern.empty() || rule.pattern == "^" || rule.pattern == "$") {
    throw SuppressionError(location + ": empty pattern after '" + rule.kind + ":'");
  }
  return rule;
}

// Matches `pattern` (no anchors, with *) at the start of text[from..].
bool match_here(const std::string& p, size_t pi, const std::string& t, size_t ti, bool to_end) {
  while (pi < p.size()) {
    if (p[pi] == '*') {
      for (size_t k = ti; k <= t.size(); ++k) {
        if (match_here(p, pi + 1, t, k, to_end)) return true;
      }
      return false;
    }
    if (ti >= t.size() || p[pi] != t[ti]) return false;
    ++pi;
    ++ti;
  }
  return !to_end || ti == t.size();
}

bool frame_matches(const Frame& frame, const std::string& pattern) {
  for (const std::string* name : {&frame.function, &frame.file, &frame.module}) {
    if (!name->empty() && template_match(pattern, *name)) return true;
  }
  return false;
}

// --- generation -----------------------------------------------------------

// Where the system's libraries live (usrmerge or not, multilib or not):
// frames there are not the program's own code.
constexpr std::array<std::string_view, 8> kSystemDirs = {"/lib/",     "/lib32/",     "/lib64/",     "/libx32/",
                                                         "/usr/lib/", "/usr/lib32/", "/usr/lib64/", "/usr/libx32/"};

std::string basename_of(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

// The traced executables are the program (also /usr/lib/postgresql/16/bin/
// postgres); so is every module outside the system's library directories.
// A frame in no module (JIT code) or in the vDSO is not.
bool is_own_frame(const Frame& frame, const Finding& finding) {
  const std::string& module = frame.module;
  if (module.empty() || module.find('/') == std::string::npos) return false;
  if (std::find(finding.executables.begin(), finding.executables.end(), module) != finding.executables.end())
    return true;
  return std::none_of(kSystemDirs.begin(), kSystemDirs.end(),
                      [&](std::string_view dir) { return module.starts_with(dir); });
}

// A module by its file name, wherever it lies: "/libfoo.so.1$" (a substring
// match, anchored at the end and at the '/' before the name).
std::string module_pattern(const std::string& module, bool* wildcarded) {
  if (module.find('/') == std::string::npos) return exact_pattern(module, wildcarded);
  std::string exact = exact_pattern(basename_of(module), wildcarded);
  return "/" + exact.substr(1);  // "^name$" -> "/name$"
}

// Which findings have a frame with exactly this function, file or module
// name: what an anchored pattern without wildcards matches. Counting the
// others a candidate matches stays linear in the report this way.
using NameIndex = std::unordered_map<std::string, std::vector<size_t>>;

NameIndex index_names(const std::vector<Finding>& findings) {
  NameIndex names;
  for (size_t i = 0; i < findings.size(); ++i) {
    for (const Frame& frame : findings[i].stack) {
      for (const std::string* name : {&frame.function, &frame.file, &frame.module}) {
        if (name->empty()) continue;
        std::vector<size_t>& holders = names[*name];
        if (holders.empty() || holders.back() != i) holders.push_back(i);
      }
    }
  }
  return names;
}

// The other findings of the report `rule` suppresses too. `exact` is the
// one name the rule's pattern matches, when it has no wildcard.
size_t other_matches(const std::vector<Finding>& findings, size_t index, const SuppressionRule& rule,
                     const std::string* exact, const NameIndex& names) {
  size_t n = 0;
  if (exact == nullptr) {
    for (size_t i = 0; i < findings.size(); ++i) {
      if (i != index && suppression_matches(rule, findings[i])) ++n;
    }
    return n;
  }
  auto holders = names.find(*exact);
  if (holders == names.end()) return 0;
  for (size_t i : holders->second) {
    if (i != index && (rule.kind == "leak" || rule.kind == findings[i].kind)) ++n;
  }
  return n;
}

// The candidate as a rule, read back exactly as --suppressions would read
// it; nullopt when it would not suppress the finding after all.
std::optional<SuppressionRule> checked_rule(const std::string& text, const Finding& finding) {
  try {
    std::optional<SuppressionRule> rule = parse_suppression_line(text, "generated");
    if (rule && suppression_matches(*rule, finding)) return rule;
  } catch (const SuppressionError&) {
  }
  return std::nullopt;
}

// --- the comment lines ------------------------------------------------------

// A comment stays one line whatever a name or message holds.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return text;
}

// The message's first words: enough to recognise the finding.
std::string first_words(const std::string& message, size_t max_chars = 72) {
  if (message.size() <= max_chars) return message;
  size_t cut = message.rfind(' ', max_chars);
  if (cut == std::string::npos || cut == 0) cut = max_chars;
  return message.substr(0, cut) + " ...";
}

std::string hex(uint64_t value) {
  char buf[2 + 16 + 1];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

// "open_conn (leak.c:12)", "open_conn (leak+0x1136)", "leak+0x1136".
std::string where(const Frame& frame) {
  std::string place;
  if (!frame.file.empty()) {
    place = basename_of(frame.file) + (frame.line > 0 ? ":" + std::to_string(frame.line) : "");
  } else if (!frame.module.empty()) {
    place = basename_of(frame.module) + "+" + hex(frame.module_offset);
  } else {
    place = "unknown module";
  }
  return frame.function.empty() ? place : frame.function + " (" + place + ")";
}

std::string plural(size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// One finding's block: the comment lines, then its rule (unless an earlier
// block has the same rule already).
void append_block(const Finding& finding, std::set<std::string>& written, std::string& out) {
  const GeneratedSuppression& gen = *finding.generated_suppression;
  out += "# " + finding.kind + ": " + one_line(first_words(finding.message)) + "\n";
  if (finding.stack.empty()) {
    out += "#   no stack was recorded, so no rule can match it\n\n";
    return;
  }
  std::string at = "#   at " + where(finding.stack.front());
  if (gen.frame > 0) at += ", through " + where(finding.stack[size_t(gen.frame)]);
  out += one_line(at) + "\n";
  if (gen.by_module) {
    out += "#   no function name there: this rule names the module, so it suppresses every " + finding.kind +
           " created through " + one_line(basename_of(finding.stack[size_t(gen.frame)].module)) + "\n";
  }
  if (gen.wildcarded) out += "#   '*' stands for characters a rule cannot spell ('*', '#')\n";
  if (gen.also_matches > 0) {
    out += "#   it also suppresses " + plural(gen.also_matches, "other finding", "other findings") + " of this report" +
           (gen.by_module ? "" : ": no function on this stack is this finding's alone") + "\n";
  }
  bool known_kind = std::find(kKinds.begin(), kKinds.end(), finding.kind) != kKinds.end();
  if (gen.rule.empty() && !known_kind) {
    out += "#   suppressions have no kind '" + one_line(finding.kind) + "' (yet): no rule can match it\n\n";
  } else if (gen.rule.empty()) {
    out += "#   no frame of its stack has a function or module name: no rule can match it\n\n";
  } else if (!written.insert(gen.rule).second) {
    out += "#   (suppressed by " + gen.rule + ", above)\n\n";
  } else {
    out += gen.rule + "\n\n";
  }
}

}  // namespace

bool template_match(const std::string& pattern, const std::string& text) {
  std::string p = pattern;
  bool anchored_start = !p.empty() && p.front() == '^';
  if (anchored_start) p.erase(0, 1);
  bool anchored_end = !p.empty() && p.back() == '$';
  if (anchored_end) p.pop_back();
  if (anchored_start) return match_here(p, 0, text, 0, anchored_end);
  for (size_t start = 0; start <= text.size(); ++start) {
    if (match_here(p, 0, text, start, anchored_end)) return true;
  }
  return false;
}

bool suppression_matches(const SuppressionRule& rule, const Finding& finding) {
  if (rule.kind != "leak" && rule.kind != finding.kind) return false;
  return std::any_of(finding.stack.begin(), finding.stack.end(),
                     [&](const Frame& frame) { return frame_matches(frame, rule.pattern); });
}

std::optional<SuppressionRule> parse_suppression_line(const std::string& line, const std::string& location) {
  std::string text = trim(line.substr(0, line.find('#')));
  if (text.empty()) return std::nullopt;
  return parse_rule(text, location);
}

std::vector<SuppressionRule> load_suppressions(const std::vector<std::string>& files) {
  std::vector<SuppressionRule> rules;
  for (const auto& file : files) {
    std::ifstream in(file);
    if (!in) throw SuppressionError(file + ": cannot read the suppressions file");
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      if (auto rule = parse_suppression_line(line, file + ":" + std::to_string(number))) rules.push_back(*rule);
    }
  }
  return rules;
}

void apply_suppressions(Report& report, const std::vector<SuppressionRule>& rules) {
  std::vector<size_t> counts(rules.size(), 0);
  std::vector<Finding> kept;
  for (auto& finding : report.findings) {
    auto rule = std::find_if(rules.begin(), rules.end(),
                             [&](const SuppressionRule& r) { return suppression_matches(r, finding); });
    if (rule == rules.end()) {
      kept.push_back(std::move(finding));
    } else {
      counts[size_t(rule - rules.begin())] += finding.count();
    }
  }
  report.findings = std::move(kept);
  for (size_t i = 0; i < rules.size(); ++i) {
    report.suppressions.push_back({rules[i].kind + ":" + rules[i].pattern, rules[i].location, counts[i]});
  }
}

std::string exact_pattern(const std::string& name, bool* wildcarded) {
  std::string pattern = "^";
  for (char c : name) {
    bool unspellable = c == '*' || c == '#' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    if (!unspellable) {
      pattern += c;
      continue;
    }
    if (wildcarded) *wildcarded = true;
    if (pattern.back() != '*') pattern += '*';
  }
  return pattern + "$";
}

namespace {

GeneratedSuppression generate_with(const std::vector<Finding>& findings, size_t index, const NameIndex& names) {
  const Finding& finding = findings[index];
  const std::vector<Frame>& stack = finding.stack;
  const bool has_own = std::any_of(stack.begin(), stack.end(),
                                   [&](const Frame& frame) { return is_own_frame(frame, finding); });
  auto candidate = [&](const Frame& frame) { return !has_own || is_own_frame(frame, finding); };

  // A function: the innermost that is this finding's alone, else the
  // innermost.
  std::optional<GeneratedSuppression> innermost;
  for (size_t i = 0; i < stack.size(); ++i) {
    if (!candidate(stack[i]) || stack[i].function.empty()) continue;
    GeneratedSuppression gen;
    gen.frame = int(i);
    gen.rule = finding.kind + ":" + exact_pattern(stack[i].function, &gen.wildcarded);
    std::optional<SuppressionRule> rule = checked_rule(gen.rule, finding);
    if (!rule) continue;
    gen.also_matches = other_matches(findings, index, *rule, gen.wildcarded ? nullptr : &stack[i].function, names);
    if (gen.also_matches == 0) return gen;
    if (!innermost) innermost = gen;
  }
  if (innermost) return *innermost;

  // No symbols: the module of the innermost frame that has one.
  for (size_t i = 0; i < stack.size(); ++i) {
    if (!candidate(stack[i]) || stack[i].module.empty()) continue;
    GeneratedSuppression gen;
    gen.frame = int(i);
    gen.by_module = true;
    gen.rule = finding.kind + ":" + module_pattern(stack[i].module, &gen.wildcarded);
    std::optional<SuppressionRule> rule = checked_rule(gen.rule, finding);
    if (!rule) continue;
    gen.also_matches = other_matches(findings, index, *rule, nullptr, names);
    return gen;
  }
  return {};  // no stack, or no frame a rule can name
}

}  // namespace

GeneratedSuppression generate_suppression(const std::vector<Finding>& findings, size_t index) {
  return generate_with(findings, index, index_names(findings));
}

void generate_suppressions(Report& report) {
  const NameIndex names = index_names(report.findings);
  std::vector<GeneratedSuppression> generated;
  for (size_t i = 0; i < report.findings.size(); ++i) generated.push_back(generate_with(report.findings, i, names));
  for (size_t i = 0; i < report.findings.size(); ++i) report.findings[i].generated_suppression = generated[i];
}

std::string suppressions_file_text(const Report& report) {
  size_t n = size_t(std::count_if(report.findings.begin(), report.findings.end(),
                                  [](const Finding& f) { return f.generated_suppression.has_value(); }));
  if (n == 0) return "";
  std::string out = std::string("# connleak --gen-suppressions: ") +
                    (n == 1 ? "the rule for the finding" : "a rule for each of the " + std::to_string(n) + " findings") +
                    " of this report.\n# Keep the rules you want in a file and pass it with --suppressions FILE.\n\n";
  // The rules that suppress their finding alone first: pasted whole, the
  // file then has none that an earlier, broader rule leaves unused.
  std::set<std::string> written;
  for (bool exact : {true, false}) {
    for (const Finding& finding : report.findings) {
      const auto& gen = finding.generated_suppression;
      if (gen && exact == (!gen->rule.empty() && gen->also_matches == 0)) append_block(finding, written, out);
    }
  }
  return out;
}

}  // namespace connleak
