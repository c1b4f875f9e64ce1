#include "report/baseline.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

namespace connleak {

std::vector<FixedFinding> load_baseline(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw BaselineError(path + ": cannot read the baseline report");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw BaselineError(path + ": not a JSON report (" + std::string(e.what()) + ")");
  }
  if (!json.is_object() || json.value("schema", "") != "connleak-report/1") {
    throw BaselineError(path + ": not a connleak JSON report (schema connleak-report/1)");
  }
  std::vector<FixedFinding> findings;
  for (const auto& f : json.value("findings", nlohmann::json::array())) {
    if (!f.is_object() || !f.contains("fingerprint") || !f["fingerprint"].is_string()) {
      throw BaselineError(path + ": a finding without a fingerprint (written by an older connleak?)");
    }
    findings.push_back({f.value("kind", ""), f.value("message", ""), f["fingerprint"].get<std::string>()});
  }
  return findings;
}

void apply_baseline(Report& report, const std::vector<FixedFinding>& baseline) {
  report.has_baseline = true;
  std::set<std::string> old_sites, current_sites;
  for (const auto& f : baseline) old_sites.insert(f.fingerprint);
  for (auto& finding : report.findings) {
    finding.baseline_state = old_sites.count(finding.fingerprint) ? "unchanged" : "new";
    current_sites.insert(finding.fingerprint);
  }
  for (const auto& f : baseline) {
    if (!current_sites.count(f.fingerprint)) report.fixed.push_back(f);
  }
}

}  // namespace connleak
