// Renderer tests on a hand-built Report: the JSON must follow the binding
// schema "connleak-report/1" (DESIGN.md) with nulls for unknowns, and the
// text must read like LeakSanitizer's and end with the SUMMARY: line.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "render/render.h"
#include "report/report.h"

using connleak::Finding;
using connleak::Frame;
using connleak::LeakInstance;
using connleak::ProcessSummary;
using connleak::Report;
using connleak::Severity;

namespace {

constexpr uint64_t kStart = 1'700'000'000'000'000'000ULL;  // ns since the epoch

ProcessSummary leak_process() {
  ProcessSummary p;
  p.pid = 123;
  p.ppid = 1;
  p.exe = "/tmp/leak";
  p.argv = {"leak", "--n", "12"};
  p.start_ns = kStart;
  p.end_ns = kStart + 3'000'000'000ULL;
  p.end = "exit";
  p.exit_status = 0;
  p.trace = "/tmp/traces/123.0.trace";
  return p;
}

ProcessSummary killed_process() {
  ProcessSummary p;
  p.pid = 124;
  p.ppid = 123;
  p.exe = "/tmp/child";
  p.argv = {"child"};
  p.start_ns = kStart + 1'000'000'000ULL;
  p.end_ns = kStart + 2'000'000'000ULL;
  p.end = "signal";
  p.signal = 9;  // exit_status stays unknown
  p.lost_events = 4;
  return p;
}

std::vector<Frame> leak_stack() {
  return {
      {0x55d0c0a01136, "open_conn", "/src/tests/leak.c", 12, "/tmp/leak", false},
      {0x55d0c0a01136, "helper", "/src/tests/leak.h", 4, "/tmp/leak", true},
      {0x55d0c0a01200, "main", "/src/tests/leak.c", 30, "/tmp/leak", false},
      {0x7f0000029d90, "__libc_start_call_main", "", 0, "/lib/x86_64-linux-gnu/libc.so.6",
       false, 0x29d90, "ab12cd"},
      {0x7f0000001000, "", "", 0, "", false},
  };
}

// A connection with everything known; `i` varies the fd and port.
LeakInstance connection(int i) {
  LeakInstance inst;
  inst.pid = 123;
  inst.fd = 5 + i;
  inst.family = "inet";
  inst.protocol = "tcp";
  inst.local = "127.0.0.1:" + std::to_string(40000 + i);
  inst.peer = "127.0.0.1:8080";
  inst.opened_ns = kStart + 2'000'000ULL;
  inst.last_io_ns = kStart + 500'000'000ULL;
  inst.idle_ns = 2'500'000'000ULL;
  inst.bytes_sent = 120;
  inst.bytes_received = 4096;
  inst.tcp_state = "ESTABLISHED";
  return inst;
}

// A socket with little known: unbound, no I/O, no TCP state.
LeakInstance bare_socket() {
  LeakInstance inst;
  inst.pid = 124;
  inst.fd = 7;
  inst.family = "inet";
  inst.protocol = "udp";
  inst.opened_ns = kStart;
  inst.inherited = true;
  inst.session = connleak::SessionRef{"curl_easy", 0x1000, "fetch_user", "/src/api.c", 42};
  return inst;
}

Finding connection_finding() {
  Finding f;
  f.kind = "leaked-connection";
  f.severity = Severity::kError;
  f.message = "12 connections to 127.0.0.1:8080 opened here were never closed";
  f.stack = leak_stack();
  f.pids = {123};
  f.executables = {"/tmp/leak"};
  for (int i = 0; i < 12; ++i) f.instances.push_back(connection(i));
  return f;
}

Finding inherited_finding() {
  Finding f;
  f.kind = "inherited-socket";
  f.severity = Severity::kWarning;
  f.message = "a socket without close-on-exec survived an exec into /tmp/child";
  f.stack = {{0x401000, "make_sock", "sock.c", 7, "/tmp/leak", false}};
  f.pids = {124};
  f.executables = {"/tmp/child"};
  f.instances = {bare_socket()};
  return f;
}

Report sample_report() {
  Report r;
  r.tool_version = "0.1.0";
  r.processes = {leak_process(), killed_process()};
  r.findings = {connection_finding(), inherited_finding()};
  r.summary = {2, 1, 1, 14, 1, 2};
  return r;
}

nlohmann::json render_json_parsed(const Report& report) {
  std::ostringstream out;
  connleak::render_json(report, out);
  return nlohmann::json::parse(out.str());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool has_line(const std::vector<std::string>& lines, const std::string& want) {
  for (const std::string& line : lines)
    if (line == want) return true;
  return false;
}

}  // namespace

TEST_CASE("json report: top level follows connleak-report/1", "[render][json]") {
  std::ostringstream out;
  connleak::render_json(sample_report(), out);
  const std::string text = out.str();
  REQUIRE(text.back() == '\n');
  CHECK(text.find("\n  \"tool\"") != std::string::npos);  // 2-space indent

  const auto j = nlohmann::json::parse(text);
  CHECK(j["schema"] == "connleak-report/1");
  CHECK(j["tool"]["name"] == "connleak");
  CHECK(j["tool"]["version"] == "0.1.0");
  REQUIRE(j["processes"].size() == 2);
  REQUIRE(j["findings"].size() == 2);
  const auto& s = j["summary"];
  CHECK(s["findings"] == 2);
  CHECK(s["errors"] == 1);
  CHECK(s["warnings"] == 1);
  CHECK(s["sockets_opened"] == 14);
  CHECK(s["sessions_created"] == 1);
  CHECK(s["processes"] == 2);
}

TEST_CASE("json report: processes, with null for unknown status", "[render][json]") {
  const auto j = render_json_parsed(sample_report());
  const auto& p = j["processes"][0];
  CHECK(p["pid"] == 123);
  CHECK(p["ppid"] == 1);
  CHECK(p["exe"] == "/tmp/leak");
  CHECK(p["argv"] == nlohmann::json({"leak", "--n", "12"}));
  CHECK(p["start_ns"].get<uint64_t>() == kStart);
  CHECK(p["end_ns"].get<uint64_t>() == kStart + 3'000'000'000ULL);
  CHECK(p["end"] == "exit");
  CHECK(p["exit_status"] == 0);
  CHECK(p["signal"].is_null());
  CHECK(p["trace"] == "/tmp/traces/123.0.trace");
  CHECK(p["lost_events"] == 0);

  const auto& k = j["processes"][1];
  CHECK(k["end"] == "signal");
  CHECK(k["exit_status"].is_null());
  CHECK(k["signal"] == 9);
  CHECK(k["lost_events"] == 4);
}

TEST_CASE("json report: findings and their stacks", "[render][json]") {
  const auto j = render_json_parsed(sample_report());
  const auto& f = j["findings"][0];
  CHECK(f["kind"] == "leaked-connection");
  CHECK(f["severity"] == "error");
  CHECK(f["count"] == 12);
  CHECK(f["pids"] == nlohmann::json({123}));
  CHECK(f["executables"] == nlohmann::json({"/tmp/leak"}));
  CHECK(f["message"] == "12 connections to 127.0.0.1:8080 opened here were never closed");
  REQUIRE(f["instances"].size() == 12);  // JSON keeps all of them

  const auto& stack = f["stack"];
  REQUIRE(stack.size() == 5);
  CHECK(stack[0]["function"] == "open_conn");
  CHECK(stack[0]["file"] == "/src/tests/leak.c");
  CHECK(stack[0]["line"] == 12);
  CHECK(stack[0]["module"] == "/tmp/leak");
  CHECK(stack[0]["address"] == "0x55d0c0a01136");
  CHECK(stack[1]["inlined"] == true);
  CHECK(stack[3]["module_offset"] == "0x29d90");  // addr2line -e module takes it, with the build-id
  CHECK(stack[3]["build_id"] == "ab12cd");
  CHECK(stack[3]["file"].is_null());  // "" -> null
  CHECK(stack[3]["line"].is_null());  // 0 -> null
  CHECK(stack[4]["function"].is_null());
  CHECK(stack[4]["module"].is_null());

  CHECK(j["findings"][1]["severity"] == "warning");
}

TEST_CASE("json report: instances, known and unknown", "[render][json]") {
  const auto j = render_json_parsed(sample_report());
  const auto& c = j["findings"][0]["instances"][0];
  CHECK(c["pid"] == 123);
  CHECK(c["fd"] == 5);
  CHECK(c["family"] == "inet");
  CHECK(c["protocol"] == "tcp");
  CHECK(c["local"] == "127.0.0.1:40000");
  CHECK(c["peer"] == "127.0.0.1:8080");
  CHECK(c["opened_ns"].get<uint64_t>() == kStart + 2'000'000ULL);
  CHECK(c["last_io_ns"].get<uint64_t>() == kStart + 500'000'000ULL);
  CHECK(c["idle_ns"] == 2'500'000'000ULL);
  CHECK(c["bytes_sent"] == 120);
  CHECK(c["bytes_received"] == 4096);
  CHECK(c["tcp_state"] == "ESTABLISHED");
  CHECK(c["session"].is_null());
  CHECK(c["listening"] == false);
  CHECK(c["inherited"] == false);

  const auto& u = j["findings"][1]["instances"][0];
  CHECK(u["local"].is_null());
  CHECK(u["peer"].is_null());
  CHECK(u["last_io_ns"].is_null());
  CHECK(u["idle_ns"].is_null());
  CHECK(u["bytes_sent"].is_null());
  CHECK(u["bytes_received"].is_null());
  CHECK(u["tcp_state"].is_null());
  CHECK(u["session"]["api"] == "curl_easy");
  CHECK(u["session"]["handle"] == "0x1000");
  CHECK(u["session"]["function"] == "fetch_user");
  CHECK(u["session"]["line"] == 42);
  CHECK(u["inherited"] == true);
}

TEST_CASE("json report: empty report and non-UTF-8 input", "[render][json]") {
  Report r;
  r.tool_version = "0.1.0";
  ProcessSummary p = leak_process();
  p.argv = {"leak", std::string("caf\xe9")};  // Latin-1, not UTF-8
  p.end = "";                                // never emitted as ""
  r.processes = {p};
  r.summary.processes = 1;
  const auto j = render_json_parsed(r);  // must not throw
  CHECK(j["findings"].is_array());
  CHECK(j["findings"].empty());
  CHECK(j["processes"][0]["end"] == "unknown");
  CHECK(j["processes"][0]["argv"][1] == "caf\xef\xbf\xbd");  // U+FFFD
}

TEST_CASE("text report: LeakSanitizer-style blocks", "[render][text]") {
  std::ostringstream out;
  connleak::render_text(sample_report(), out);
  const auto lines = lines_of(out.str());
  REQUIRE(!lines.empty());

  CHECK(lines[0] ==
        "connleak: leaked-connection: 12 connections to 127.0.0.1:8080 opened here were never "
        "closed");
  CHECK(lines[1] == "    #0 0x55d0c0a01136 in open_conn /src/tests/leak.c:12");
  CHECK(lines[2] == "    #1 0x55d0c0a01136 in helper /src/tests/leak.h:4 (inlined)");
  CHECK(lines[3] == "    #2 0x55d0c0a01200 in main /src/tests/leak.c:30");
  CHECK(lines[4] ==
        "    #3 0x7f0000029d90 in __libc_start_call_main (/lib/x86_64-linux-gnu/libc.so.6+0x29d90)");
  CHECK(lines[5] == "    #4 0x7f0000001000 (<unknown module>)");
  CHECK(lines[6] ==
        "  in pid 123 (/tmp/leak): fd 5 127.0.0.1:40000 -> 127.0.0.1:8080, ESTABLISHED, "
        "opened 0.002 s after the process started, 120 bytes sent, 4096 bytes received, "
        "idle for 2.500 s after its last I/O");
  CHECK(has_line(lines, "  ... and 2 more"));
  CHECK(has_line(lines, "connleak: inherited-socket: a socket without close-on-exec survived "
                        "an exec into /tmp/child"));
  CHECK(has_line(lines, "  in pid 124 (/tmp/child): fd 7 inet udp socket, "
                        "inherited from the parent process, held by the curl_easy session created at "
                        "fetch_user (api.c:42)"));
  CHECK(has_line(lines, "connleak: note: pid 124: 4 events could not be recorded; "
                        "this report may be incomplete"));
  CHECK(lines.back() == connleak::summary_line(sample_report()));
}

TEST_CASE("text report: at most 10 instances per finding", "[render][text]") {
  std::ostringstream out;
  connleak::render_text(sample_report(), out);
  const auto lines = lines_of(out.str());
  size_t shown = 0;
  for (const auto& line : lines)
    if (line.rfind("  in pid 123 ", 0) == 0) ++shown;
  CHECK(shown == 10);
}

TEST_CASE("text report: no findings", "[render][text]") {
  Report r;
  r.summary.processes = 3;
  std::ostringstream out;
  connleak::render_text(r, out);
  CHECK(out.str() ==
        "connleak: no leaks found in 3 processes\n"
        "SUMMARY: connleak: no leaks in 3 processes\n");
}

TEST_CASE("text report: color only on request", "[render][text]") {
  std::ostringstream plain, colored;
  connleak::render_text(sample_report(), plain);
  connleak::render_text(sample_report(), colored, true);
  CHECK(plain.str().find('\x1b') == std::string::npos);
  CHECK(colored.str().find("\x1b[1;31mconnleak: leaked-connection: ") != std::string::npos);
  CHECK(colored.str().find("\x1b[1;35mconnleak: inherited-socket: ") != std::string::npos);
}

TEST_CASE("summary_line: counts per kind in a fixed order, with grammar", "[render][summary]") {
  Report r;
  r.summary.processes = 1;
  CHECK(connleak::summary_line(r) == "SUMMARY: connleak: no leaks in 1 process");
  r.summary.processes = 3;
  CHECK(connleak::summary_line(r) == "SUMMARY: connleak: no leaks in 3 processes");

  Finding socket;
  socket.kind = "leaked-socket";
  socket.instances = {bare_socket()};
  Finding conn = connection_finding();
  conn.instances.resize(2);
  // Out of order in the report: the line still follows the fixed order.
  r.findings = {socket, conn};
  CHECK(connleak::summary_line(r) ==
        "SUMMARY: connleak: 1 leaked-connection (2 instances), 1 leaked-socket (1 instance) "
        "in 3 processes");

  r.findings.push_back(conn);
  Finding future;
  future.kind = "some-new-kind";
  r.findings.push_back(future);
  r.summary.processes = 1;
  CHECK(connleak::summary_line(r) ==
        "SUMMARY: connleak: 2 leaked-connection (4 instances), 1 leaked-socket (1 instance), "
        "1 some-new-kind (0 instances) in 1 process");
}
