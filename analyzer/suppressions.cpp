#include "suppressions.h"

#include <algorithm>
#include <array>
#include <fstream>

namespace connleak {
namespace {

constexpr std::array<const char*, 7> kKinds = {"leak",          "leaked-connection", "leaked-socket",
                                               "leaked-session", "inherited-socket", "session-churn",
                                               "bad-close"};

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

bool rule_matches(const SuppressionRule& rule, const Finding& finding) {
  if (rule.kind != "leak" && rule.kind != finding.kind) return false;
  return std::any_of(finding.stack.begin(), finding.stack.end(),
                     [&](const Frame& frame) { return frame_matches(frame, rule.pattern); });
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

std::vector<SuppressionRule> load_suppressions(const std::vector<std::string>& files) {
  std::vector<SuppressionRule> rules;
  for (const auto& file : files) {
    std::ifstream in(file);
    if (!in) throw SuppressionError(file + ": cannot read the suppressions file");
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      std::string text = trim(line.substr(0, line.find('#')));
      if (!text.empty()) rules.push_back(parse_rule(text, file + ":" + std::to_string(number)));
    }
  }
  return rules;
}

void apply_suppressions(Report& report, const std::vector<SuppressionRule>& rules) {
  std::vector<size_t> counts(rules.size(), 0);
  std::vector<Finding> kept;
  for (auto& finding : report.findings) {
    auto rule = std::find_if(rules.begin(), rules.end(),
                             [&](const SuppressionRule& r) { return rule_matches(r, finding); });
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

}  // namespace connleak
