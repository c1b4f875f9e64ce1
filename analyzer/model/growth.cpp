#include "model/growth.h"

#include <algorithm>
#include <vector>

namespace connleak {
namespace {

constexpr int kSamples = 120;

// Totals (opened, closed) as of `t`.
SitePoint totals_at(const SiteHistory& site, uint64_t t) {
  auto after = std::upper_bound(site.points.begin(), site.points.end(), t,
                                [](uint64_t time, const SitePoint& p) { return time < p.mono_ns; });
  return after == site.points.begin() ? SitePoint{t, 0, 0} : *(after - 1);
}

// Least squares of y over x: the slope and R^2.
void fit_line(const std::vector<double>& x, const std::vector<double>& y, double& slope, double& r2) {
  double n = double(x.size()), sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sx += x[i], sy += y[i], sxx += x[i] * x[i], sxy += x[i] * y[i], syy += y[i] * y[i];
  }
  double vx = n * sxx - sx * sx, vy = n * syy - sy * sy, cov = n * sxy - sx * sy;
  slope = vx > 0 ? cov / vx : 0;
  r2 = vx > 0 && vy > 0 ? (cov * cov) / (vx * vy) : 1;
}

}  // namespace

Growth measure_growth(const SiteHistory& site, uint64_t end_ns, uint64_t window_ns) {
  Growth g;
  if (site.points.empty()) return g;
  uint64_t first = site.points.front().mono_ns;
  g.window_end_ns = std::max(end_ns, first);
  g.window_start_ns = g.window_end_ns - first > window_ns ? g.window_end_ns - window_ns : first;
  // The open count just before the window, so what opened at its first
  // instant counts as growth inside it.
  SitePoint before = g.window_start_ns == first ? SitePoint{first, 0, 0} : totals_at(site, g.window_start_ns);
  SitePoint last = totals_at(site, g.window_end_ns);
  g.open_at_start = int64_t(before.opened) - int64_t(before.closed);
  g.open_at_end = int64_t(last.opened) - int64_t(last.closed);
  g.opened = last.opened - before.opened;
  g.closed = last.closed - before.closed;
  if (g.window_ns() == 0) return g;

  std::vector<double> x, y;
  for (int i = 0; i <= kSamples; ++i) {
    uint64_t t = g.window_start_ns + g.window_ns() * uint64_t(i) / kSamples;
    x.push_back(double(t - g.window_start_ns) / 60e9);
    y.push_back(i == 0 ? double(g.open_at_start) : double(site.open_at(t)));
  }
  fit_line(x, y, g.per_minute, g.fit);
  for (int q = 0; q < 4; ++q) {
    if (y[size_t(kSamples * (q + 1) / 4)] > y[size_t(kSamples * q / 4)]) ++g.rising_quarters;
  }
  return g;
}

uint64_t growth_end(const SiteHistory& site, const ProcessLife& process) {
  if (process.end == ProcessEnd::kRunning || site.points.empty()) return process.end_mono_ns;
  uint64_t last_open = site.points.front().mono_ns;
  uint64_t opened_before = 0;
  for (const SitePoint& p : site.points) {
    if (p.opened > opened_before) last_open = p.mono_ns;
    opened_before = p.opened;
  }
  return last_open;
}

}  // namespace connleak
