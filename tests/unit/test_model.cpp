// The lifetime model and the socket detectors, on traces written record by
// record: every way a socket's life ends, and where a leak is charged.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>

#include "detectors/detectors.h"
#include "model/model.h"
#include "trace_builder.h"

using namespace connleak;
using connleak::testing::TempDir;
using connleak::testing::TraceBuilder;
using connleak::testing::loopback;

namespace {

struct Analysis {
  Model model;
  std::vector<Leak> leaks;
};

Analysis analyze(const std::vector<std::string>& paths) {
  std::vector<TraceFile> traces;
  for (const auto& p : paths) traces.emplace_back(p);
  Analysis a;
  a.model = build_model(traces);
  a.leaks = run_detectors(a.model);
  return a;
}

std::vector<int> leaked_fds(const Analysis& a) {
  std::vector<int> fds;
  for (const auto& leak : a.leaks) fds.push_back(a.model.sockets[size_t(leak.socket)].fd);
  std::sort(fds.begin(), fds.end());
  return fds;
}

}  // namespace

TEST_CASE("a connected socket open at exit is a leaked connection", "[model]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 100);
  uint32_t socket_stack = b.stack({0x10});
  uint32_t connect_stack = b.stack({0x20});
  b.socket(3, socket_stack);
  b.connect(3, loopback(8080), 0, connect_stack);
  b.socket(4, socket_stack);
  b.open_at_exit(3, 1);
  b.open_at_exit(4, 0);
  b.end();
  Analysis a = analyze({b.path()});
  REQUIRE(a.leaks.size() == 2);
  CHECK(a.leaks[0].kind == "leaked-connection");
  CHECK(a.leaks[0].stack.id == connect_stack);  // the connect() line, not socket()
  CHECK(format_address(a.model.sockets[0].peer) == "127.0.0.1:8080");
  CHECK(a.leaks[1].kind == "leaked-socket");
  CHECK(a.leaks[1].stack.id == socket_stack);
}

TEST_CASE("every way of closing ends the socket", "[model]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 101);
  b.socket(3);
  b.close(3);                             // close
  b.socket(4);
  b.dup(4, 5, trace::DupVia::kDup);       // dup, then close both
  b.close(4);
  b.close(5);
  b.socket(6);
  b.socket(7);
  b.dup(6, 7, trace::DupVia::kDup2);      // dup2 over 7 closes the socket at 7
  b.close(6);
  b.close(7);
  b.socket(8);
  b.socket(9);
  b.close_range(8, ~0U);                  // close_range
  b.socket(10);
  b.close(10, EBADF);                     // a failed close still frees the fd
  b.end();
  Analysis a = analyze({b.path()});
  CHECK(a.leaks.empty());
  for (const auto& s : a.model.sockets) CHECK(s.end == SocketEnd::kClosed);
}

TEST_CASE("a socket with a dup left open is still open", "[model]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 102);
  b.socket(3);
  b.dup(3, 12, trace::DupVia::kFcntl);
  b.close(3);
  b.open_at_exit(12);
  b.end();
  Analysis a = analyze({b.path()});
  REQUIRE(a.leaks.size() == 1);
  CHECK(a.model.sockets[0].open_fds == std::vector<int>{12});
}

TEST_CASE("close_range with CLOSE_RANGE_CLOEXEC closes at exec instead", "[model]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 103);
  b.socket(3);
  b.socket(4);
  b.close_range(3, 3, CLOSE_RANGE_CLOEXEC);
  b.exec("/bin/true");
  Analysis a = analyze({b.path()});
  CHECK(a.model.processes[0].end == ProcessEnd::kExec);
  CHECK(a.model.sockets[0].end == SocketEnd::kClosedAtExec);
  CHECK(a.model.sockets[1].end == SocketEnd::kPassedOnAtExec);
  CHECK(a.leaks.empty());
}

TEST_CASE("a reused fd number retires the socket closed behind the shim's back", "[model]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 104);
  b.socket(3);  // closed with a raw syscall: no record
  b.socket(3);
  b.open_at_exit(3);
  b.end();
  Analysis a = analyze({b.path()});
  CHECK(leaked_fds(a) == std::vector<int>{3});
  CHECK(a.leaks.size() == 1);
  CHECK(a.model.sockets.size() == 1);  // the retired socket's slot was reused
  CHECK(a.model.sockets_opened == 2);
}

TEST_CASE("the I/O counters of a socket's fds add up", "[model]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 107);
  b.socket(3);
  b.io_counters(3, 10, 20, 500);
  b.dup(3, 4, trace::DupVia::kDup);
  b.io_counters(4, 1, 2, 700);  // the dup's first I/O: a record of its own
  b.close(3);
  b.open_at_exit(4);
  b.end();
  Analysis a = analyze({b.path()});
  const SocketLife& s = a.model.sockets[0];
  CHECK(s.bytes_sent == 11);
  CHECK(s.bytes_received == 22);
  CHECK(s.last_io_mono_ns == s.opened_mono_ns + 1000 + 700);  // the dup's, a tick after socket()
}

TEST_CASE("a coarse last-I/O stamp never predates a fine-clock accept", "[model]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 108);
  b.socket(3);
  b.accept(4, 3, loopback(40000));
  b.io_counters(4, 1, 0, -3000);  // coarse: as of the last timer tick
  b.open_at_exit(4);
  b.end();
  Analysis a = analyze({b.path()});
  const SocketLife& s = a.model.sockets[1];
  CHECK(s.bytes_sent == 1);
  CHECK(s.last_io_mono_ns == s.opened_mono_ns);
}

TEST_CASE("memory grows with live sockets, not with the trace", "[model]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 108);
  for (int i = 0; i < 1000; ++i) {
    b.socket(3 + i % 4);
    b.close(3 + i % 4);
  }
  b.socket(9);
  b.open_at_exit(9);
  b.end();
  Analysis a = analyze({b.path()});
  CHECK(a.model.sockets_opened == 1001);
  CHECK(a.model.sockets.size() <= 6);  // one per fd kept for double-close reports, plus the live one
  CHECK(leaked_fds(a) == std::vector<int>{9});
}

TEST_CASE("at a clean exit only sockets the kernel confirmed open are leaks", "[model]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 105);
  b.socket(3);
  b.socket(4);
  b.open_at_exit(4);
  b.end();
  Analysis a = analyze({b.path()});
  CHECK(leaked_fds(a) == std::vector<int>{4});
  CHECK(a.model.sockets[0].end == SocketEnd::kClosedUnseen);
}

TEST_CASE("a killed process leaks everything it held", "[model]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 106);
  b.socket(3);
  b.connect(3, loopback(1));
  b.socket(4);
  b.close(4);
  Analysis a = analyze({b.path()});
  CHECK(a.model.processes[0].end == ProcessEnd::kUnknown);
  CHECK(leaked_fds(a) == std::vector<int>{3});
}

TEST_CASE("a fork child starts with its parent's sockets and leaks only its own", "[model]") {
  TempDir dir;
  TraceBuilder parent(dir.path(), 200);
  uint32_t stack = parent.stack({0x42});
  parent.socket(3, stack);
  parent.connect(3, loopback(9000));
  uint64_t fork_offset = parent.fork();
  parent.close(3);
  parent.end();

  TraceBuilder child(dir.path(), 201, trace::Origin::kForked, parent.file_name(), fork_offset, parent.now() - 1000);
  child.socket(4, stack);  // a stack id the child inherited from the parent
  child.io_counters(3, 10, 0, 0);  // it uses the connection it inherited
  child.open_at_exit(3);
  child.open_at_exit(4);
  child.end();

  Analysis a = analyze({child.path(), parent.path()});
  REQUIRE(a.leaks.size() == 2);
  for (const auto& leak : a.leaks) {
    const auto& s = a.model.sockets[size_t(leak.socket)];
    CHECK(a.model.processes[size_t(s.process)].pid == 201);
    REQUIRE(a.model.stack(s.open_stack) != nullptr);
    CHECK(a.model.stack(s.open_stack)->front() == 0x42);
  }
  CHECK(leaked_fds(a) == std::vector<int>{3, 4});
}

TEST_CASE("a fork child starts from its parent's sockets as they were at the fork", "[model]") {
  TempDir dir;
  TraceBuilder parent(dir.path(), 210);
  uint32_t listener_stack = parent.stack({0x10});
  uint32_t first_stack = parent.stack({0x20});
  uint32_t second_stack = parent.stack({0x30});
  parent.socket(3, listener_stack);
  parent.accept(4, 3, loopback(5001), first_stack);
  uint64_t first_fork = parent.fork();
  uint64_t first_fork_ns = parent.now();
  parent.close(4);  // its slot in the model is reused by the next accept
  parent.accept(4, 3, loopback(5002), second_stack);
  uint64_t second_fork = parent.fork();
  uint64_t second_fork_ns = parent.now();
  parent.close(4);
  parent.close(3);
  parent.end();

  std::vector<std::string> paths{parent.path()};
  for (auto [pid, fork, start] : {std::tuple{211, first_fork, first_fork_ns}, {212, second_fork, second_fork_ns}}) {
    TraceBuilder child(dir.path(), pid, trace::Origin::kForked, parent.file_name(), fork, start);
    child.close(3);
    child.io_counters(4, 3, 0, 0);
    child.open_at_exit(4);
    child.end();
    paths.push_back(child.path());
  }
  Analysis a = analyze(paths);
  REQUIRE(a.leaks.size() == 2);
  std::map<int, std::pair<std::string, uint64_t>> by_pid;  // pid -> peer, innermost frame
  for (const auto& leak : a.leaks) {
    const auto& s = a.model.sockets[size_t(leak.socket)];
    CHECK(s.opened_mono_ns <= a.model.processes[size_t(s.process)].start_mono_ns);
    by_pid[a.model.processes[size_t(s.process)].pid] = {format_address(s.peer), a.model.stack(s.open_stack)->front()};
  }
  CHECK(by_pid[211] == std::pair<std::string, uint64_t>{"127.0.0.1:5001", 0x20});
  CHECK(by_pid[212] == std::pair<std::string, uint64_t>{"127.0.0.1:5002", 0x30});
}

TEST_CASE("a socket shared by fork is leaked only by the process that held it last", "[model]") {
  TempDir dir;
  TraceBuilder parent(dir.path(), 220);
  parent.socket(3);
  parent.listen(3);
  uint64_t fork_offset = parent.fork();
  TraceBuilder worker(dir.path(), 221, trace::Origin::kForked, parent.file_name(), fork_offset, parent.now());
  worker.accept(4, 3, loopback(7000));  // the worker uses the listener...
  worker.close(4);
  worker.open_at_exit(3);  // ...and exits holding it
  worker.end();
  SECTION("the parent still holds it, and closes it later: no leak") {
    parent.tick_until(worker.now() + 1000);
    parent.close(3);
    parent.end();
    Analysis a = analyze({parent.path(), worker.path()});
    CHECK(a.leaks.empty());
    const auto& copy = *std::find_if(a.model.sockets.begin(), a.model.sockets.end(), [&](const SocketLife& s) {
      return s.end == SocketEnd::kHeldElsewhere;
    });
    CHECK(a.model.processes[size_t(copy.held_on_by)].pid == 220);
  }
  SECTION("the parent exits holding it last: the parent leaked it") {
    parent.tick_until(worker.now() + 1000);
    parent.open_at_exit(3);
    parent.end();
    Analysis a = analyze({parent.path(), worker.path()});
    REQUIRE(a.leaks.size() == 1);
    const auto& s = a.model.sockets[size_t(a.leaks[0].socket)];
    CHECK(a.model.processes[size_t(s.process)].pid == 220);
    REQUIRE(s.shared_with.size() == 1);
    CHECK(a.model.processes[size_t(s.shared_with[0])].pid == 221);
  }
  SECTION("the parent closed it before the worker ended: the worker leaked it") {
    parent.close(3);
    parent.end();
    Analysis a = analyze({parent.path(), worker.path()});
    REQUIRE(a.leaks.size() == 1);
    CHECK(a.model.processes[size_t(a.model.sockets[size_t(a.leaks[0].socket)].process)].pid == 221);
  }
}

TEST_CASE("a fork child that never used what it inherited leaks none of it", "[model]") {
  TempDir dir;
  TraceBuilder parent(dir.path(), 230);
  parent.socket(3);
  parent.connect(3, loopback(9100));
  uint64_t fork_offset = parent.fork();
  parent.close(3);  // the parent is done with it; the child only holds a copy
  parent.end();
  TraceBuilder child(dir.path(), 231, trace::Origin::kForked, parent.file_name(), fork_offset, parent.now());
  child.open_at_exit(3);
  child.end();
  Analysis a = analyze({parent.path(), child.path()});
  CHECK(a.leaks.empty());
}

TEST_CASE("a fork child without its parent's trace is analysed alone, with a warning", "[model]") {
  TempDir dir;
  TraceBuilder child(dir.path(), 301, trace::Origin::kForked, "connleak.300.0.trace", 160);
  child.socket(5);
  child.open_at_exit(5);
  child.end();
  Analysis a = analyze({child.path()});
  CHECK(a.leaks.size() == 1);
  REQUIRE(a.model.warnings.size() == 1);
  CHECK_THAT(a.model.warnings[0], Catch::Contains("connleak.300.0.trace"));
}

TEST_CASE("lost events are counted per process", "[model]") {
  TempDir dir;
  TraceBuilder b(dir.path(), 107);
  b.lost(5);
  b.end();
  Analysis a = analyze({b.path()});
  CHECK(a.model.processes[0].lost_events == 5);
}

TEST_CASE("addresses are formatted for people", "[model]") {
  sockaddr_in v4 = loopback(443);
  CHECK(format_address(std::string(reinterpret_cast<char*>(&v4), sizeof(v4))) == "127.0.0.1:443");
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(80);
  v6.sin6_addr = in6addr_loopback;
  CHECK(format_address(std::string(reinterpret_cast<char*>(&v6), sizeof(v6))) == "[::1]:80");
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::strcpy(un.sun_path, "/run/app.sock");
  CHECK(format_address(std::string(reinterpret_cast<char*>(&un), sizeof(un))) == "/run/app.sock");
  CHECK(format_address("") == "");
}
