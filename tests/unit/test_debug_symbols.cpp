#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "symbols/debug_symbols.h"
#include "trace_builder.h"

using namespace connleak;

namespace {

Report report_with_frames(const std::vector<std::pair<std::string, std::string>>& frames) {  // (module, function)
  Report report;
  Finding finding;
  for (const auto& [module, function] : frames) {
    Frame frame;
    frame.module = module;
    frame.function = function;
    finding.stack.push_back(frame);
  }
  report.findings.push_back(finding);
  return report;
}

}  // namespace

TEST_CASE("many frames without symbols name the debug-symbol packages that would help", "[symbols]") {
  testing::TempDir dpkg;
  std::ofstream(dpkg.path() + "/redis-tools.list") << "/.\n/usr/bin\n/usr/bin/redis-check-rdb\n";
  std::ofstream(dpkg.path() + "/libc6:amd64.list") << "/lib/x86_64-linux-gnu/libc.so.6\n";
  Report report = report_with_frames({{"/usr/bin/redis-check-rdb", ""},
                                      {"/usr/bin/redis-check-rdb", ""},
                                      {"/usr/lib/x86_64-linux-gnu/libc.so.6", ""},
                                      {"/usr/lib/x86_64-linux-gnu/libc.so.6", "__libc_start_main"}});
  std::string hint = debug_symbols_hint(report, dpkg.path());
  CHECK_THAT(hint, Catch::StartsWith("3 frames have no symbols"));
  CHECK_THAT(hint, Catch::Contains("redis-tools-dbgsym"));
  CHECK_THAT(hint, Catch::Contains("libc6-dbgsym"));  // dpkg lists it under /lib, unmerged
}

TEST_CASE("stacks that read well, or files no package owns, get no package advice", "[symbols]") {
  testing::TempDir dpkg;
  CHECK(debug_symbols_hint(report_with_frames({{"/tmp/a.out", ""}, {"/tmp/a.out", "main"}}), dpkg.path()).empty());
  std::string hint = debug_symbols_hint(report_with_frames({{"/tmp/a.out", ""}, {"/tmp/a.out", ""}, {"/tmp/b", ""}}),
                                        dpkg.path());
  CHECK_THAT(hint, Catch::Contains("debug information for those files would name them"));
  CHECK_THAT(hint, !Catch::Contains("dbgsym"));
}
