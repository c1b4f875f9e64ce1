// How fast one creation site's open count grows: a least-squares fit of
// its open count over a window of its history (Model::sites). The
// connection-growth detector and the watch view both judge from this.
#pragma once

#include <cstdint>

#include "model/model.h"

namespace connleak {

struct Growth {
  uint64_t window_start_ns = 0;  // CLOCK_MONOTONIC
  uint64_t window_end_ns = 0;
  int64_t open_at_start = 0;
  int64_t open_at_end = 0;
  uint64_t opened = 0;  // in the window
  uint64_t closed = 0;
  double per_minute = 0;  // slope of the fit
  double fit = 0;         // R^2 of the fit, 0..1 (1 when the count is flat)
  int rising_quarters = 0;  // of the window's four, those whose open count rose

  uint64_t window_ns() const { return window_end_ns - window_start_ns; }
};

// Ten minutes: long enough that a warm-up (a pool filling, a cache
// connecting) does not read as growth, short enough to show a leak that
// began recently in a process that has run for days.
inline constexpr uint64_t kGrowthWindowNs = 600'000'000'000ull;

// The growth of `site` over the window that ends at `end_ns` and reaches
// back at most `window_ns` (not before the site's first point).
Growth measure_growth(const SiteHistory& site, uint64_t end_ns, uint64_t window_ns = kGrowthWindowNs);

// Where the site's work stopped: the time of its last opening, or `end_ns`
// for a running process (whose work goes on). A process that closed
// everything in its exit path still shows what piled up while it worked.
uint64_t growth_end(const SiteHistory& site, const ProcessLife& process);

}  // namespace connleak
