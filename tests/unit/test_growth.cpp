// connection-growth: the fit of a site's open count, and what the detector
// takes for growth (a steady climb) and what it does not (a pool filling up,
// a climb too short to judge).
#include <catch2/catch.hpp>

#include "detectors/detectors.h"
#include "model/growth.h"

using namespace connleak;

namespace {

constexpr uint64_t kSecond = 1'000'000'000;

// A site that opens one socket every `interval` and closes all but every
// `keep`-th, for `count` openings starting at 1 s.
SiteHistory steady_site(uint64_t interval, int count, int keep) {
  SiteHistory site;
  site.process = 0;
  for (int i = 1; i <= count; ++i) {
    uint64_t t = kSecond + uint64_t(i) * interval;
    site.record(t, 1, 0);
    if (i % keep) site.record(t + 1000, 0, 1);
  }
  return site;
}

Model model_with(SiteHistory site, uint64_t end_ns, ProcessEnd end = ProcessEnd::kExit) {
  Model model;
  ProcessLife p;
  p.end = end;
  p.end_mono_ns = end_ns;
  model.processes.push_back(p);
  model.sites.push_back(std::move(site));
  return model;
}

}  // namespace

TEST_CASE("growth: the rate of a steady leak, per minute", "[growth]") {
  // One opening every 100 ms, one in four kept: 150 kept per minute.
  SiteHistory site = steady_site(kSecond / 10, 300, 4);
  Growth g = measure_growth(site, 31 * kSecond);
  CHECK(g.open_at_end == 75);
  CHECK(g.open_at_start == 0);
  CHECK(g.opened == 300);
  CHECK(g.closed == 225);
  CHECK(g.per_minute == Approx(150).epsilon(0.05));
  CHECK(g.fit > 0.95);
  CHECK(g.rising_quarters == 4);
}

TEST_CASE("growth: only the last ten minutes count", "[growth]") {
  // Flat for 20 minutes after an early climb: nothing grows now.
  SiteHistory site = steady_site(kSecond / 10, 300, 4);
  site.record(1200 * kSecond, 1, 1);
  Growth g = measure_growth(site, 1200 * kSecond);
  CHECK(g.window_ns() == kGrowthWindowNs);
  CHECK(g.open_at_start == g.open_at_end);
  CHECK(g.per_minute == Approx(0).margin(1e-9));
}

TEST_CASE("growth: a steady leak is reported, live and after the end", "[growth]") {
  SiteHistory site = steady_site(kSecond / 10, 300, 4);
  Model ended = model_with(site, 60 * kSecond);
  REQUIRE(detect_connection_growth(ended).size() == 1);
  CHECK(detect_connection_growth(ended)[0].kind == "connection-growth");
  CHECK(detect_connection_growth(ended)[0].site == 0);
  Model running = model_with(site, 31 * kSecond, ProcessEnd::kRunning);
  CHECK(detect_connection_growth(running).size() == 1);
}

TEST_CASE("growth: a pool that fills up and stays is not growth", "[growth]") {
  SiteHistory site;
  site.process = 0;
  for (int i = 0; i < 50; ++i) site.record(kSecond + uint64_t(i) * kSecond / 100, 1, 0);
  for (int i = 0; i < 100; ++i) site.record(2 * kSecond + uint64_t(i) * kSecond, 0, 0);
  Model model = model_with(site, 120 * kSecond, ProcessEnd::kRunning);
  CHECK(detect_connection_growth(model).empty());
}

TEST_CASE("growth: a running site that stopped opening is not growing now", "[growth]") {
  SiteHistory site = steady_site(kSecond / 10, 300, 4);
  Model model = model_with(site, 400 * kSecond, ProcessEnd::kRunning);
  CHECK(detect_connection_growth(model).empty());
}

TEST_CASE("growth: a climb shorter than ten seconds is not judged", "[growth]") {
  SiteHistory site = steady_site(kSecond / 100, 800, 4);  // 200 kept over 8 s
  Model model = model_with(site, 10 * kSecond);
  CHECK(detect_connection_growth(model).empty());
}

TEST_CASE("growth: totals are kept per second", "[growth]") {
  SiteHistory site;
  for (int i = 0; i < 1000; ++i) site.record(kSecond + uint64_t(i) * 1000, 1, 0);
  CHECK(site.points.size() == 1);
  CHECK(site.opened() == 1000);
  CHECK(site.open_at(kSecond / 2) == 0);
  CHECK(site.open_at(2 * kSecond) == 1000);
}
