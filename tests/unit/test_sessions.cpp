// Session lifetimes in the model and the session detectors, on traces
// written record by record.
#include <catch2/catch.hpp>

#include <algorithm>

#include "detectors/detectors.h"
#include "model/model.h"
#include "trace_builder.h"

using namespace connleak;
using connleak::testing::TempDir;
using connleak::testing::TraceBuilder;
using connleak::testing::loopback;
using Api = trace::SessionApi;
using Event = trace::SessionEventType;

namespace {

std::vector<Leak> leaks_of(const std::string& path, const std::string& kind, Model* out = nullptr,
                           DetectorOptions options = {}) {
  std::vector<TraceFile> traces;
  traces.emplace_back(path);
  Model model = build_model(traces);
  std::vector<Leak> all = run_detectors(model, options), kept;
  std::copy_if(all.begin(), all.end(), std::back_inserter(kept), [&](const Leak& l) { return l.kind == kind; });
  if (out) *out = std::move(model);
  return kept;
}

}  // namespace

TEST_CASE("a session never invalidated is a leaked session", "[sessions]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 1);
  uint32_t site = b.stack({0x100});
  b.session_begin(0xA, Api::kCurlEasy, site);
  b.session_event(0xA, Api::kCurlEasy, Event::kTransferDone);
  b.session_begin(0xB, Api::kCurlEasy, site);
  b.session_event(0xB, Api::kCurlEasy, Event::kEnd);
  b.end();
  Model model;
  auto leaks = leaks_of(b.path(), "leaked-session", &model);
  REQUIRE(leaks.size() == 1);
  const SessionLife& s = model.sessions[size_t(leaks[0].session)];
  CHECK(s.handle == 0xA);
  CHECK(s.api == "curl_easy");
  CHECK(s.completed_transfers == 1);
  CHECK(leaks[0].stack.id == site);
}

TEST_CASE("an SSL_CTX lives until its last reference is released", "[sessions]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 2);
  b.session_begin(0xC, Api::kOpensslCtx);
  b.session_event(0xC, Api::kOpensslCtx, Event::kAddRef);
  b.session_event(0xC, Api::kOpensslCtx, Event::kRelease);
  SECTION("one reference left") {
    b.end();
    CHECK(leaks_of(b.path(), "leaked-session").size() == 1);
  }
  SECTION("all released") {
    b.session_event(0xC, Api::kOpensslCtx, Event::kRelease);
    b.end();
    CHECK(leaks_of(b.path(), "leaked-session").empty());
  }
}

TEST_CASE("sessions a library makes inside its own calls are not reported", "[sessions]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 3);
  b.session_begin(0x10, Api::kCurlEasy);
  b.session_begin(0x20, Api::kOpensslCtx, 0, /*parent=*/0x10);
  b.session_event(0x10, Api::kCurlEasy, Event::kEnd);
  b.end();
  CHECK(leaks_of(b.path(), "leaked-session").empty());
}

TEST_CASE("a leaked session's connections name it; its internal sockets are its own", "[sessions]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 4);
  b.session_begin(0x30, Api::kCurlEasy);
  b.socket(5);
  b.socket_owner(5, 0x30, Api::kCurlEasy);
  b.connect(5, loopback(80));
  b.socket(6, 0, false, AF_UNIX);  // libcurl's wake-up socketpair
  b.socket_owner(6, 0x30, Api::kCurlEasy);
  b.open_at_exit(5);
  b.open_at_exit(6);
  b.end();
  Model model;
  auto connections = leaks_of(b.path(), "leaked-connection", &model);
  REQUIRE(connections.size() == 1);
  CHECK(model.root_session(model.sockets[size_t(connections[0].socket)].session) == 0);
  CHECK(leaks_of(b.path(), "leaked-socket").empty());
  CHECK(leaks_of(b.path(), "leaked-session").size() == 1);
}

TEST_CASE("session churn needs enough single-transfer sessions from one site, each with a connection of its own", "[sessions]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 5);
  uint32_t site = b.stack({0x200});
  for (uint64_t h = 1; h <= 3; ++h) {  // each opens a connection of its own
    b.session_begin(h, Api::kCurlEasy, site);
    b.socket(int(h + 2));
    b.socket_owner(int(h + 2), h, Api::kCurlEasy);
    b.connect(int(h + 2), loopback(8080));
    b.session_event(h, Api::kCurlEasy, Event::kTransferDone);
    b.close(int(h + 2));
    b.session_event(h, Api::kCurlEasy, Event::kEnd);
  }
  for (uint64_t h = 4; h <= 6; ++h) {  // one transfer each over a shared connection: no churn
    b.session_begin(h, Api::kCurlEasy, site);
    b.session_event(h, Api::kCurlEasy, Event::kTransferDone);
    b.session_event(h, Api::kCurlEasy, Event::kEnd);
  }
  b.session_begin(9, Api::kCurlEasy, site);  // two transfers: reused, fine
  b.session_event(9, Api::kCurlEasy, Event::kTransferDone);
  b.session_event(9, Api::kCurlEasy, Event::kTransferDone);
  b.session_event(9, Api::kCurlEasy, Event::kEnd);
  b.end();
  CHECK(leaks_of(b.path(), "session-churn").size() == 3);
  DetectorOptions strict;
  strict.churn_threshold = 4;
  CHECK(leaks_of(b.path(), "session-churn", nullptr, strict).empty());
  CHECK(leaks_of(b.path(), "leaked-session").empty());
}

TEST_CASE("a user session carries its kind", "[sessions]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 6);
  b.session_begin(0x40, Api::kUser, 0, 0, "pool");
  b.end();
  Model model;
  auto leaks = leaks_of(b.path(), "leaked-session", &model);
  REQUIRE(leaks.size() == 1);
  CHECK(model.sessions[size_t(leaks[0].session)].api == "user:pool");
}
