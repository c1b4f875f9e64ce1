// The trace format: what the shim's writer produces, the reader reads back
// exactly; damaged files are refused with the file and offset named.
#include <catch2/catch.hpp>

#include <fstream>
#include <vector>

#include "trace_builder.h"
#include "trace/trace_reader.h"

using namespace connleak;
using connleak::testing::TempDir;
using connleak::testing::TraceBuilder;
using connleak::testing::loopback;

namespace {

std::vector<trace::RecordType> record_types(const TraceFile& file) {
  std::vector<trace::RecordType> types;
  file.for_each_record([&](const RecordView& r) { types.push_back(r.type()); });
  return types;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string write_bytes(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

}  // namespace

TEST_CASE("records written by the shim's writer read back unchanged", "[format]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 4242);
  b.process_info("/usr/bin/prog", {"prog", "--flag"});
  uint32_t stack = b.stack({0x1000, 0x2000, 0x3000});
  b.socket(5, stack, true);
  b.connect(5, loopback(8080), 0, stack);
  b.dup(5, 9, trace::DupVia::kDup2);
  b.close(5);
  b.open_at_exit(9, 8);
  b.end(3);

  TraceFile file(b.path());
  CHECK(file.header().pid == 4242);
  CHECK(file.header().version == trace::kFormatVersion);
  using T = trace::RecordType;
  CHECK(record_types(file) == std::vector<T>{T::kProcessInfo, T::kStack, T::kSocketOpen, T::kConnect,
                                             T::kDup, T::kClose, T::kOpenAtExit, T::kProcessEnd});
  CHECK(file.ended_cleanly());
  file.for_each_record([&](const RecordView& r) {
    switch (r.type()) {
      case T::kProcessInfo: {
        auto tail = r.tail<trace::ProcessInfo>();
        CHECK(std::string(tail.substr(0, r.as<trace::ProcessInfo>().exe_len)) == "/usr/bin/prog");
        break;
      }
      case T::kStack:
        CHECK(r.as<trace::Stack>().depth == 3);
        CHECK(reinterpret_cast<const uint64_t*>(r.tail<trace::Stack>().data())[2] == 0x3000);
        break;
      case T::kSocketOpen:
        CHECK(r.as<trace::SocketOpen>().h.fd == 5);
        CHECK(r.as<trace::SocketOpen>().h.flags == trace::kFlagCloexec);
        break;
      case T::kConnect:
        CHECK(r.as<trace::Connect>().peer.addr_len == sizeof(sockaddr_in));
        break;
      case T::kDup:
        CHECK(r.as<trace::Dup>().h.fd == 9);
        break;
      case T::kProcessEnd:
        CHECK(r.as<trace::ProcessEnd>().exit_status == 3);
        break;
      default:
        break;
    }
  });
}

TEST_CASE("a trace whose writer was killed ends at its padding", "[format]") {
  TempDir dir;
  TraceBuilder killed(dir.path(), 7);  // never ended, as after a SIGKILL
  killed.socket(3);
  TraceFile file(killed.path());
  CHECK(record_types(file) == std::vector<trace::RecordType>{trace::RecordType::kSocketOpen});
  CHECK_FALSE(file.ended_cleanly());
}

TEST_CASE("damaged traces are refused with the file named", "[format]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 11);
  b.socket(3);
  b.connect(3, loopback(1));
  b.end();
  std::string good = read_bytes(b.path());

  SECTION("cut in the middle of a record") {
    auto path = write_bytes(dir.path(), "cut.trace", good.substr(0, good.size() - 12));
    CHECK_THROWS_WITH(TraceFile(path).for_each_record([](auto&) {}),
                      Catch::Contains(path) && Catch::Contains("truncated"));
  }
  SECTION("cut at a record boundary, losing the end record") {
    auto path = write_bytes(dir.path(), "cut.trace", good.substr(0, good.size() - sizeof(trace::ProcessEnd)));
    CHECK_THROWS_WITH(TraceFile(path).for_each_record([](auto&) {}), Catch::Contains("truncated"));
  }
  SECTION("cut inside the header") {
    auto path = write_bytes(dir.path(), "cut.trace", good.substr(0, 40));
    CHECK_THROWS_WITH(TraceFile(path), Catch::Contains("not a connleak trace"));
  }
  SECTION("not a trace at all") {
    auto path = write_bytes(dir.path(), "random.trace", std::string(4096, '\x5a'));
    CHECK_THROWS_WITH(TraceFile(path), Catch::Contains(path) && Catch::Contains("bad magic"));
  }
  SECTION("from a newer connleak") {
    std::string newer = good;
    auto* header = reinterpret_cast<trace::FileHeader*>(newer.data());
    header->version = trace::kFormatVersion + 5;
    header->min_reader_version = trace::kFormatVersion + 1;
    auto path = write_bytes(dir.path(), "newer.trace", newer);
    CHECK_THROWS_WITH(TraceFile(path), Catch::Contains("newer connleak"));
  }
  SECTION("a record claims more bytes than it has") {
    std::string corrupt = good;
    auto* connect = reinterpret_cast<trace::Connect*>(corrupt.data() + sizeof(trace::FileHeader) +
                                                      sizeof(trace::SocketOpen));
    REQUIRE(connect->h.type == uint16_t(trace::RecordType::kConnect));
    connect->peer.addr_len = 200;
    auto path = write_bytes(dir.path(), "corrupt.trace", corrupt);
    CHECK_THROWS_WITH(TraceFile(path).for_each_record([](auto&) {}), Catch::Contains("corrupt record"));
  }
  SECTION("a record of a type from a newer writer is skipped") {
    std::string with_unknown = good;
    auto* first = reinterpret_cast<trace::RecordHeader*>(with_unknown.data() + sizeof(trace::FileHeader));
    first->type = 200;  // beyond kMaxRecordType
    auto path = write_bytes(dir.path(), "unknown.trace", with_unknown);
    TraceFile file(path);
    CHECK(record_types(file) == std::vector<trace::RecordType>{trace::RecordType::kConnect,
                                                               trace::RecordType::kProcessEnd});
  }
}

TEST_CASE("trace directories expand to their trace files", "[format]") {
  TempDir dir;
  TraceBuilder a(dir.path(), 1);
  TraceBuilder b(dir.path(), 2);
  write_bytes(dir.path(), "notes.txt", "ignored");
  CHECK(find_trace_files({dir.path()}).size() == 2);
  CHECK_THROWS_WITH(find_trace_files({dir.path() + "/missing"}), Catch::Contains("no such file"));
}
