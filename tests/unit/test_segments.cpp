// Bounded traces on the reader's side: the segments of one image, written
// with the shim's own writer, read as one trace from the oldest checkpoint
// that reaches the newest segment; a missing segment is said, not hidden.
#include <catch2/catch.hpp>

#include <filesystem>

#include "detectors/detectors.h"
#include "model/model.h"
#include "trace_builder.h"
#include "trace/trace_segments.h"

using namespace connleak;
using connleak::testing::TempDir;
using connleak::testing::TraceBuilder;
using connleak::testing::loopback;

namespace {

constexpr uint64_t kCap = 4 << 20;

struct Read {
  Model model;
  std::vector<Leak> leaks;
};

Read read_dir(const std::string& dir) {
  std::vector<TraceFile> traces;
  for (const auto& path : find_trace_files({dir})) traces.emplace_back(path);
  Read r;
  r.model = build_model(traces);
  r.leaks = run_detectors(r.model);
  return r;
}

bool warned(const Model& m, const std::string& part) {
  for (const auto& w : m.warnings)
    if (w.find(part) != std::string::npos) return true;
  return false;
}

// Segment 0: a leak (fd 3, connected to :8080) and a closed socket; then two
// rotations (segment 0 becomes a stub), each checkpoint repeating the leak,
// its stack, its counters and the site's counts; more churn after each.
std::string write_three_segments(const std::string& dir) {
  TraceBuilder b(dir, 300, trace::Origin::kStarted, "", 0, 1'000'000, kCap);
  b.process_info("/bin/churn", {"churn"});
  uint32_t leak_stack = b.stack({0x10, 0x20});
  b.socket(3, leak_stack);
  b.connect(3, loopback(8080), 0, leak_stack);
  b.io_counters(3, 10, 0, 0);
  b.socket(4, leak_stack);
  b.close(4);
  for (int segment = 1; segment <= 2; ++segment) {
    b.next_segment();
    b.checkpoint_begin(uint64_t(segment) * 2, uint64_t(segment) * 2 - 1);
    b.process_info("/bin/churn", {"churn"});
    b.stack_again(leak_stack, {0x10, 0x20});
    b.site_counters(leak_stack, uint64_t(segment) * 2, uint64_t(segment) * 2 - 1);
    b.socket(3, leak_stack);
    b.connect(3, loopback(8080), 0, leak_stack);
    b.io_counters(3, 10 + uint64_t(segment), 0, 0);  // the counters go on here
    b.checkpoint_end();
    b.socket(5, leak_stack);  // one more opened and closed per segment
    b.close(5);
  }
  b.open_at_exit(3);
  b.end();
  return b.file_name();
}

}  // namespace

TEST_CASE("segment names group into one image", "[segments]") {
  CHECK(image_stem("connleak.12.0.trace") == "connleak.12.0");
  CHECK(image_stem("connleak.12.0.s7.trace") == "connleak.12.0");
  CHECK(image_stem("connleak.12.3.s17.trace") == "connleak.12.3");
  CHECK(image_stem("other.trace") == "other");
  CHECK(image_stem("connleak.12.0.sx.trace") == "connleak.12.0.sx");
}

TEST_CASE("a bounded trace reads as one image from its oldest checkpoint", "[segments]") {
  TempDir dir;
  write_three_segments(dir.path());
  // The writer dropped segment 0 to a stub at the second rotation.
  CHECK(std::filesystem::file_size(dir.path() + "/connleak.300.0.trace") == sizeof(trace::FileHeader));
  CHECK(std::filesystem::exists(dir.path() + "/connleak.300.0.s1.trace"));
  Read r = read_dir(dir.path());
  CHECK(r.model.warnings.empty());
  REQUIRE(r.model.processes.size() == 1);
  const ProcessLife& p = r.model.processes[0];
  CHECK(p.trace == "connleak.300.0.trace");
  CHECK(p.exe == "/bin/churn");
  CHECK(p.end == ProcessEnd::kExit);
  CHECK(p.summarized_before_mono_ns > 0);
  CHECK(p.closed_sockets_summarized == 1);  // segment 1's checkpoint: the closed fd 4
  REQUIRE(r.leaks.size() == 1);
  const SocketLife& leak = r.model.sockets[size_t(r.leaks[0].socket)];
  CHECK(leak.fd == 3);
  CHECK(format_address(leak.peer) == "127.0.0.1:8080");
  CHECK(leak.bytes_sent == 12);  // segment 2's counters replace segment 1's
  REQUIRE(r.model.stack(r.leaks[0].stack) != nullptr);
  // 2 in segment 1's summary, one made in each of segments 1 and 2.
  CHECK(r.model.sockets_opened == 4);
  REQUIRE(r.model.sites.size() == 1);
  CHECK(r.model.sites[0].opened() == 4);
  CHECK(r.model.sites[0].closed() == 3);
}

TEST_CASE("a missing segment is said, and the trace is read from the next checkpoint", "[segments]") {
  TempDir dir;
  write_three_segments(dir.path());
  std::filesystem::remove(dir.path() + "/connleak.300.0.s1.trace");
  Read r = read_dir(dir.path());
  CHECK(warned(r.model, "segment 1 of this trace is missing"));
  REQUIRE(r.leaks.size() == 1);
  const SocketLife& leak = r.model.sockets[size_t(r.leaks[0].socket)];
  CHECK(format_address(leak.peer) == "127.0.0.1:8080");
  CHECK(leak.bytes_sent == 12);
  CHECK(r.model.sockets_opened == 5);  // segment 2's summary says 4, one more after it
  CHECK(r.model.processes[0].closed_sockets_summarized == 3);
}

TEST_CASE("a missing last segment is said", "[segments]") {
  TempDir dir;
  write_three_segments(dir.path());
  std::filesystem::remove(dir.path() + "/connleak.300.0.s2.trace");
  Read r = read_dir(dir.path());
  CHECK(warned(r.model, "segments after segment 1 of this trace are missing"));
  CHECK(r.model.processes[0].end == ProcessEnd::kUnknown);
  REQUIRE(r.leaks.size() == 1);  // what segment 1 knew is still reported
}

TEST_CASE("a segment whose checkpoint never ended is left out", "[segments]") {
  TempDir dir;
  {
    TraceBuilder b(dir.path(), 301, trace::Origin::kStarted, "", 0, 1'000'000, kCap);
    uint32_t st = b.stack({0x10});
    b.socket(3, st);
    b.connect(3, loopback(9090), 0, st);
    b.next_segment();
    b.checkpoint_begin(1, 0);  // killed here, mid-rotation
  }
  Read r = read_dir(dir.path());
  CHECK(warned(r.model, "its checkpoint was never completed"));
  REQUIRE(r.leaks.size() == 1);
  CHECK(format_address(r.model.sockets[size_t(r.leaks[0].socket)].peer) == "127.0.0.1:9090");
  CHECK(r.model.sockets_opened == 1);
}
