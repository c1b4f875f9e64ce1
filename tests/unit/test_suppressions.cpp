// Suppression rules: the matcher, and the rules --gen-suppressions writes,
// which must be read back by the same matcher and suppress exactly the
// finding they were written for.
#include <algorithm>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "render/render.h"
#include "report/report.h"
#include "report/suppressions.h"

using connleak::exact_pattern;
using connleak::Finding;
using connleak::Frame;
using connleak::generate_suppression;
using connleak::LeakInstance;
using connleak::Report;
using connleak::template_match;

namespace {

constexpr const char* kApp = "/opt/app/bin/client";
constexpr const char* kLibc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
constexpr const char* kCurl = "/usr/lib/x86_64-linux-gnu/libcurl.so.4";

Frame frame(const std::string& function, const std::string& file, int line, const std::string& module,
            uint64_t offset = 0x1000) {
  return Frame{0x400000 + offset, function, file, line, module, false, offset, ""};
}

Frame app(const std::string& function, int line) { return frame(function, "/src/app/client.c", line, kApp); }
Frame libc_main() { return frame("__libc_start_call_main", "", 0, kLibc, 0x29d90); }

Finding finding(const std::string& kind, std::vector<Frame> stack, const std::string& message = "a leak") {
  Finding f;
  f.kind = kind;
  f.message = message;
  f.stack = std::move(stack);
  f.executables = {kApp};
  f.pids = {42};
  LeakInstance inst;
  inst.pid = 42;
  f.instances = {inst};
  return f;
}

std::string rule_of(const std::vector<Finding>& findings, size_t index) {
  return generate_suppression(findings, index).rule;
}

// The generated rule as --suppressions reads it.
connleak::SuppressionRule parsed(const std::string& line) {
  auto rule = connleak::parse_suppression_line(line, "test:1");
  REQUIRE(rule.has_value());
  return *rule;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Writes `text` to a fresh file, for load_suppressions.
std::string temp_file(const std::string& text) {
  char path[] = "/tmp/connleak-supp-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

// Tells the findings of one test apart.
std::string site(const Finding& f) {
  return f.kind + "/" + f.stack.at(1).function + "/" + std::to_string(f.stack.at(0).line);
}

// Findings that share a helper: two callers of open_conn, open_conn called
// from main itself, and a leaked socket made in open_conn too.
std::vector<Finding> shared_helper_findings() {
  return {
      finding("leaked-connection", {app("open_conn", 10), app("fetch_users", 20), app("main", 40), libc_main()}),
      finding("leaked-connection", {app("open_conn", 10), app("fetch_orders", 25), app("main", 41), libc_main()}),
      finding("leaked-connection", {app("open_conn", 10), app("main", 42), libc_main()}),
      finding("leaked-socket", {app("open_conn", 9), app("main", 43), libc_main()}),
  };
}

}  // namespace

TEST_CASE("template_match: substrings, wildcards and anchors", "[suppressions]") {
  CHECK(template_match("open", "open_conn"));
  CHECK(template_match("^open_conn$", "open_conn"));
  CHECK_FALSE(template_match("^open_conn$", "open_conn2"));
  CHECK_FALSE(template_match("^open_conn$", "reopen_conn"));
  CHECK(template_match("lib*.so", "/usr/lib/libcurl.so.4"));
  CHECK(template_match("/libcurl.so.4$", "/usr/lib/libcurl.so.4"));
  CHECK_FALSE(template_match("/libcurl.so.4$", "/usr/lib/mylibcurl.so.4"));
}

TEST_CASE("exact_pattern: anchored, and read back as the name itself", "[suppressions]") {
  struct Case {
    std::string name, pattern;
    bool wildcarded;
  };
  for (const Case& c : std::vector<Case>{
           {"open_conn", "^open_conn$", false},
           {"Pool::get(std::string const&) const", "^Pool::get(std::string const&) const$", false},
           {"Ptr::operator*() const", "^Ptr::operator*() const$", true},
           {"Ptr::operator*=(int)", "^Ptr::operator*=(int)$", true},
           {"a**b", "^a*b$", true},
           {"tag#1", "^tag*1$", true},
           {"line\nbreak", "^line*break$", true},
           {"^caret", "^^caret$", false},
           {"dollar$", "^dollar$$", false},
           {"$", "^$$", false},
       }) {
    INFO(c.name);
    bool wildcarded = false;
    CHECK(exact_pattern(c.name, &wildcarded) == c.pattern);
    CHECK(wildcarded == c.wildcarded);
    CHECK(template_match(c.pattern, c.name));
    // Through the suppressions file syntax: nothing lost to '#', ':' or trimming.
    CHECK(parsed("leaked-connection:" + c.pattern).pattern == c.pattern);
  }
  // The characters the matcher treats specially stay literal where they can.
  CHECK_FALSE(template_match(exact_pattern("^caret"), "caret"));
  CHECK_FALSE(template_match(exact_pattern("dollar$"), "dollar"));
  CHECK_FALSE(template_match(exact_pattern("Pool::get(int)"), "Pool::get(int) const"));
}

TEST_CASE("gen-suppressions: the innermost function of the program's own code", "[suppressions][gen]") {
  // stack[0] is libcurl's (the caller of connect); the program's frame is next.
  std::vector<Finding> findings = {finding(
      "leaked-connection",
      {frame("Curl_socket_open", "", 0, kCurl, 0x5000), frame("curl_easy_perform", "", 0, kCurl, 0x6000),
       app("fetch", 12), app("main", 30), libc_main()})};
  auto gen = generate_suppression(findings, 0);
  CHECK(gen.rule == "leaked-connection:^fetch$");
  CHECK(gen.frame == 2);
  CHECK_FALSE(gen.by_module);
  CHECK(gen.also_matches == 0);

  // A program in a system directory is still the program when it is the
  // traced executable (PostgreSQL's backends).
  const std::string postgres = "/usr/lib/postgresql/16/bin/postgres";
  Finding backend = finding("leaked-connection", {frame("pq_accept", "", 0, "/usr/lib/x86_64-linux-gnu/libfoo.so"),
                                                  frame("ServerLoop", "postmaster.c", 1700, postgres),
                                                  frame("main", "main.c", 200, postgres), libc_main()});
  backend.executables = {postgres};
  CHECK(rule_of({backend}, 0) == "leaked-connection:^ServerLoop$");
  // A stack entirely in system libraries: its innermost function.
  backend.executables = {"/usr/bin/other"};
  backend.stack[1].module = backend.stack[2].module = "/usr/lib/x86_64-linux-gnu/libbar.so";
  CHECK(rule_of({backend}, 0) == "leaked-connection:^pq_accept$");
}

TEST_CASE("gen-suppressions: findings through one helper are told apart", "[suppressions][gen]") {
  auto findings = shared_helper_findings();
  CHECK(rule_of(findings, 0) == "leaked-connection:^fetch_users$");
  CHECK(rule_of(findings, 1) == "leaked-connection:^fetch_orders$");
  // No function is this one's alone: the innermost, and it says so.
  auto gen = generate_suppression(findings, 2);
  CHECK(gen.rule == "leaked-connection:^open_conn$");
  CHECK(gen.also_matches == 2);
  // The kind keeps a rule apart from another kind's findings.
  gen = generate_suppression(findings, 3);
  CHECK(gen.rule == "leaked-socket:^open_conn$");
  CHECK(gen.also_matches == 0);
}

TEST_CASE("gen-suppressions: frames without symbols give their module", "[suppressions][gen]") {
  std::vector<Finding> findings = {
      finding("leaked-socket", {frame("", "", 0, "/opt/app/lib/libstripped.so.1", 0x1136),
                                frame("", "", 0, kApp, 0x2000), libc_main()}),
  };
  auto gen = generate_suppression(findings, 0);
  CHECK(gen.rule == "leaked-socket:/libstripped.so.1$");
  CHECK(gen.by_module);
  CHECK(gen.frame == 0);
  auto rule = parsed(gen.rule);
  CHECK(connleak::suppression_matches(rule, findings[0]));
  Finding elsewhere = findings[0];
  elsewhere.stack[0].module = "/opt/app/lib/mylibstripped.so.1";
  CHECK_FALSE(connleak::suppression_matches(rule, elsewhere));

  std::string text;
  Report report;
  report.findings = findings;
  connleak::generate_suppressions(report);
  text = connleak::suppressions_file_text(report);
  CHECK(text.find("#   at libstripped.so.1+0x1136\n") != std::string::npos);
  CHECK(text.find("this rule names the module, so it suppresses every leaked-socket created through "
                  "libstripped.so.1") != std::string::npos);
}

TEST_CASE("gen-suppressions: no stack, no rule", "[suppressions][gen]") {
  Report report;
  report.findings = {finding("bad-close", {}, "close of fd 5, which was already closed")};
  connleak::generate_suppressions(report);
  REQUIRE(report.findings[0].generated_suppression.has_value());
  CHECK(report.findings[0].generated_suppression->rule.empty());
  auto lines = lines_of(connleak::suppressions_file_text(report));
  REQUIRE(lines.size() >= 5);
  CHECK(lines[3] == "# bad-close: close of fd 5, which was already closed");
  CHECK(lines[4] == "#   no stack was recorded, so no rule can match it");
  for (const auto& line : lines) CHECK((line.empty() || line[0] == '#'));
}

TEST_CASE("gen-suppressions: a kind the rules do not know gets no rule", "[suppressions][gen]") {
  Report report;
  report.findings = {finding("future-kind", {app("make", 3)})};
  connleak::generate_suppressions(report);
  CHECK(report.findings[0].generated_suppression->rule.empty());
  CHECK(connleak::suppressions_file_text(report).find(
            "#   suppressions have no kind 'future-kind' (yet): no rule can match it\n") != std::string::npos);
}

TEST_CASE("gen-suppressions: every kind's rule is accepted", "[suppressions][gen]") {
  for (const char* kind : {"leaked-connection", "leaked-socket", "leaked-session", "inherited-socket",
                           "session-churn", "bad-close", "stale-session", "stale-connection", "dead-connection",
                           "connection-growth"}) {
    INFO(kind);
    std::vector<Finding> findings = {finding(kind, {app("make", 3), app("main", 9)})};
    std::string rule = rule_of(findings, 0);
    CHECK(rule == std::string(kind) + ":^make$");
    CHECK(connleak::suppression_matches(parsed(rule), findings[0]));
  }
}

TEST_CASE("gen-suppressions: the file suppresses exactly the findings it names", "[suppressions][gen]") {
  Report report;
  report.findings = shared_helper_findings();
  report.findings.push_back(finding("leaked-session", {app("Ptr::operator*() const", 70), app("main", 80)},
                                    "a curl_easy session created here was never invalidated (no "
                                    "curl_easy_cleanup); it still held 1 connection when the process ended"));
  connleak::generate_suppressions(report);
  const std::string text = connleak::suppressions_file_text(report);
  const auto lines = lines_of(text);
  CHECK(lines[0] == "# connleak --gen-suppressions: a rule for each of the 5 findings of this report.");

  // Never broader than a kind and one anchored name.
  std::vector<std::string> rules;
  for (const auto& line : lines) {
    if (line.empty() || line[0] == '#') continue;
    rules.push_back(line);
    auto rule = parsed(line);
    CHECK(rule.kind != "leak");
    CHECK((rule.pattern.front() == '^' || rule.pattern.front() == '/'));
    CHECK(rule.pattern.back() == '$');
  }
  // The rules for one finding alone first, then the one that covers three.
  CHECK(rules == std::vector<std::string>{"leaked-connection:^fetch_users$", "leaked-connection:^fetch_orders$",
                                          "leaked-socket:^open_conn$", "leaked-session:^Ptr::operator*() const$",
                                          "leaked-connection:^open_conn$"});
  // A comment names each finding; long messages are cut at a word.
  CHECK(text.find("# leaked-connection: a leak\n#   at open_conn (client.c:10), through fetch_users (client.c:20)\n"
                  "leaked-connection:^fetch_users$\n") != std::string::npos);
  CHECK(text.find("# leaked-session: a curl_easy session created here was never invalidated (no ...\n") !=
        std::string::npos);
  CHECK(text.find("#   '*' stands for characters a rule cannot spell") != std::string::npos);
  CHECK(text.find("#   it also suppresses 2 other findings of this report") != std::string::npos);

  // The whole file suppresses everything.
  const std::string path = temp_file(text);
  Report all = report;
  connleak::apply_suppressions(all, connleak::load_suppressions({path}));
  std::remove(path.c_str());
  CHECK(all.findings.empty());
  // Each rule is used: the broad one comes after the exact ones.
  for (const auto& use : all.suppressions) CHECK(use.matched == 1);

  // One rule alone suppresses its finding and leaves the others.
  for (int i : {0, 1, 3, 4}) {
    Report one = report;
    connleak::apply_suppressions(one, {parsed(report.findings[size_t(i)].generated_suppression->rule)});
    CHECK(one.findings.size() == report.findings.size() - 1);
    for (const Finding& left : one.findings) CHECK(site(left) != site(report.findings[size_t(i)]));
  }
}

TEST_CASE("gen-suppressions: a rule already given is not repeated", "[suppressions][gen]") {
  Report report;
  report.findings = {finding("leaked-connection", {app("open_conn", 10), app("main", 40)}),
                     finding("leaked-connection", {app("open_conn", 10), app("main", 41)})};
  connleak::generate_suppressions(report);
  const std::string text = connleak::suppressions_file_text(report);
  size_t first = text.find("\nleaked-connection:^open_conn$\n");
  REQUIRE(first != std::string::npos);
  CHECK(text.find("\nleaked-connection:^open_conn$\n", first + 1) == std::string::npos);
  CHECK(text.find("#   (suppressed by leaked-connection:^open_conn$, above)\n") != std::string::npos);
}

TEST_CASE("gen-suppressions: text and JSON reports carry the rules only when asked", "[suppressions][render]") {
  Report report;
  report.summary.processes = 1;
  report.findings = {finding("leaked-connection", {app("open_conn", 10), app("main", 40)}),
                     finding("bad-close", {})};
  std::ostringstream plain_text, plain_json;
  connleak::render_text(report, plain_text);
  connleak::render_json(report, plain_json);
  CHECK(plain_text.str().find("--gen-suppressions") == std::string::npos);
  const auto plain = nlohmann::json::parse(plain_json.str());
  for (const auto& f : plain["findings"]) CHECK_FALSE(f.contains("suppression"));

  connleak::generate_suppressions(report);
  std::ostringstream text, json;
  connleak::render_text(report, text);
  connleak::render_json(report, json);
  const auto lines = lines_of(text.str());
  CHECK(lines.back() == connleak::summary_line(report));
  CHECK(std::find(lines.begin(), lines.end(), "leaked-connection:^open_conn$") != lines.end());
  const auto parsed_json = nlohmann::json::parse(json.str());
  const auto& findings = parsed_json.at("findings");
  INFO(json.str());
  CHECK(findings[0]["suppression"] == "leaked-connection:^open_conn$");
  CHECK(findings[1]["suppression"].is_null());
}
