#include <set>

#include "model/growth.h"
#include "detectors.h"

namespace connleak {
namespace {

// Growth that is more than a pool filling up: at least this many more open
// over a window of at least this long, rising in three of its four quarters
// along a straight line.
constexpr int64_t kMinGrowth = 10;
constexpr uint64_t kMinWindowNs = 10'000'000'000ull;
constexpr double kMinFit = 0.8;

bool keeps_growing(const Growth& g) {
  return g.window_ns() >= kMinWindowNs && g.open_at_end >= kMinGrowth &&
         g.open_at_end - g.open_at_start >= kMinGrowth && g.per_minute > 0 && g.fit >= kMinFit &&
         g.rising_quarters >= 3 && g.opened > 0;
}

Leak growth_leak(const Model& model, int site) {
  Leak leak;
  leak.kind = "connection-growth";
  leak.severity = Severity::kWarning;
  leak.stack = model.sites[size_t(site)].stack;
  leak.process = model.sites[size_t(site)].process;
  leak.site = site;
  return leak;
}

// Sockets a growing session holds grow with it: the session's finding,
// whose stack is the program's, tells the story.
bool held_by_growing_session(const Model& model, int site, const std::set<int>& growing_sessions) {
  for (const SocketLife& s : model.sockets) {
    if (s.recycled || s.site != site || s.session < 0) continue;
    int root = model.root_session(s.session);
    if (growing_sessions.count(model.sessions[size_t(root)].site)) return true;
  }
  return false;
}

}  // namespace

std::vector<Leak> detect_connection_growth(const Model& model) {
  std::vector<Leak> leaks;
  std::set<int> growing_sessions;
  for (bool sessions : {true, false}) {
    for (size_t i = 0; i < model.sites.size(); ++i) {
      const SiteHistory& site = model.sites[i];
      if (site.sessions != sessions) continue;
      const ProcessLife& p = model.processes[size_t(site.process)];
      if (!keeps_growing(measure_growth(site, growth_end(site, p)))) continue;
      if (!sessions && held_by_growing_session(model, int(i), growing_sessions)) continue;
      if (sessions) growing_sessions.insert(int(i));
      leaks.push_back(growth_leak(model, int(i)));
    }
  }
  return leaks;
}

}  // namespace connleak
