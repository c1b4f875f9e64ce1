// The CI formats on a hand-built Report: SARIF 2.1.0 as code scanning reads
// it (rules, levels, locations relative to the source root, fingerprints,
// stacks) and JUnit XML as test-report views read it (suites per executable,
// failures for errors, well-formed and escaped). The real consumers check
// the same files in tests/ci_formats.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "render/render.h"
#include "report/report.h"

namespace render_ci_test {

using connleak::Finding;
using connleak::Frame;
using connleak::LeakInstance;
using connleak::ProcessSummary;
using connleak::Report;
using connleak::SarifOptions;
using connleak::Severity;
using Json = nlohmann::json;

constexpr uint64_t kT0 = 1'700'000'000'000'000'000ULL;

ProcessSummary process(int pid, const std::string& exe) {
  ProcessSummary p;
  p.pid = pid;
  p.ppid = 1;
  p.exe = exe;
  p.argv = {exe};
  p.start_ns = kT0;
  p.end_ns = kT0 + 1'000'000'000ULL;
  p.end = "exit";
  p.exit_status = 0;
  return p;
}

LeakInstance socket_instance(int pid, int fd) {
  LeakInstance inst;
  inst.pid = pid;
  inst.fd = fd;
  inst.family = "inet";
  inst.protocol = "tcp";
  inst.local = "127.0.0.1:" + std::to_string(40000 + fd);
  inst.peer = "127.0.0.1:8080";
  inst.opened_ns = kT0 + 1'000'000ULL;
  inst.tcp_state = "ESTABLISHED";
  return inst;
}

// Innermost first: two frames with source under /src, one in libc without.
std::vector<Frame> stack_under_src() {
  return {
      {0x401136, "open_conn", "/src/net/client.c", 12, "/build/client_test", false},
      {0x401200, "main", "/src/tests/client_test.c", 30, "/build/client_test", false},
      {0x7f0000029d90, "__libc_start_call_main", "", 0, "/lib/x86_64-linux-gnu/libc.so.6", false},
  };
}

Finding connection_leak() {
  Finding f;
  f.kind = "leaked-connection";
  f.severity = Severity::kError;
  f.message = "3 connections to 127.0.0.1:8080 opened here were never closed";
  f.fingerprint = "0123456789abcdef";
  f.stack = stack_under_src();
  f.pids = {100, 101};
  f.executables = {"/build/client_test", "/build/other_test"};
  f.instances = {socket_instance(100, 5), socket_instance(100, 6), socket_instance(101, 5)};
  return f;
}

// A warning whose source file lies outside /src.
Finding inherited_warning() {
  Finding f;
  f.kind = "inherited-socket";
  f.severity = Severity::kWarning;
  f.message = "a socket without close-on-exec survived an exec into /usr/bin/helper";
  f.fingerprint = "fedcba9876543210";
  f.stack = {{0x402000, "spawn_helper", "/opt/vendor/spawn.c", 7, "/build/client_test", false}};
  f.pids = {100};
  f.executables = {"/build/client_test"};
  f.instances = {socket_instance(100, 9)};
  return f;
}

// No frame with source: the result falls back to the module.
Finding session_without_source() {
  Finding f;
  f.kind = "leaked-session";
  f.severity = Severity::kError;
  f.message = "a curl_easy session created here was never cleaned up";
  f.fingerprint = "00000000000000aa";
  f.stack = {{0x7f0000100000, "curl_easy_init", "", 0, "/usr/lib/libcurl.so.4", false},
             {0x7f0000200000, "", "", 0, "", false}};
  f.pids = {101};
  f.executables = {"/build/other_test"};
  f.instances = {socket_instance(101, 7)};
  return f;
}

Report ci_report() {
  Report r;
  r.tool_version = "0.3.1";
  r.processes = {process(100, "/build/client_test"), process(101, "/build/other_test")};
  r.findings = {connection_leak(), session_without_source(), inherited_warning()};
  r.summary = {3, 2, 1, 5, 1, 2};
  return r;
}

std::string sarif_text(const Report& report, const std::string& source_root = "/src") {
  SarifOptions options;
  options.source_root = source_root;
  std::ostringstream out;
  connleak::render_sarif(report, options, out);
  return out.str();
}

Json sarif(const Report& report, const std::string& source_root = "/src") {
  return Json::parse(sarif_text(report, source_root));
}

std::string junit(const Report& report) {
  std::ostringstream out;
  connleak::render_junit(report, out);
  return out.str();
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A small check of XML well-formedness as far as tags go: every element
// opened is closed in order, no stray '<' or '&' outside tags and entities.
// Returns "" when fine, else what is wrong.
std::string tag_balance_error(const std::string& xml) {
  std::vector<std::string> open;
  size_t i = 0;
  if (xml.rfind("<?xml ", 0) == 0) i = xml.find("?>") + 2;
  while (i < xml.size()) {
    if (xml[i] == '&') {
      const size_t semi = xml.find(';', i);
      const std::string entity = xml.substr(i, semi == std::string::npos ? 8 : semi - i + 1);
      static const std::vector<std::string> known = {"&amp;",  "&lt;", "&gt;",  "&quot;",
                                                     "&apos;", "&#9;", "&#10;", "&#13;"};
      bool ok = false;
      for (const auto& k : known) ok = ok || entity == k;
      if (!ok) return "unknown entity " + entity;
      i += entity.size();
      continue;
    }
    if (xml[i] != '<') {
      if (xml[i] == '>') return "stray '>' at " + std::to_string(i);
      ++i;
      continue;
    }
    const size_t end = xml.find('>', i);
    if (end == std::string::npos) return "unterminated tag";
    const std::string tag = xml.substr(i + 1, end - i - 1);
    if (tag.find('<') != std::string::npos) return "'<' inside a tag: " + tag;
    if (!tag.empty() && tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1))
        return "mismatched </" + tag.substr(1) + ">";
      open.pop_back();
    } else if (tag.empty() || tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find_first_of(" \t\n")));
    }
    i = end + 1;
  }
  return open.empty() ? "" : "unclosed <" + open.back() + ">";
}

}  // namespace render_ci_test

using namespace render_ci_test;

TEST_CASE("sarif: log, tool and the ten rules", "[render][sarif]") {
  const std::string text = sarif_text(ci_report());
  REQUIRE(text.back() == '\n');
  const Json j = Json::parse(text);
  CHECK(j["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json");
  CHECK(j["version"] == "2.1.0");
  REQUIRE(j["runs"].size() == 1);
  const Json& driver = j["runs"][0]["tool"]["driver"];
  CHECK(driver["name"] == "connleak");
  CHECK(driver["version"] == "0.3.1");
  CHECK(driver["semanticVersion"] == "0.3.1");

  const Json& rules = driver["rules"];
  REQUIRE(rules.size() == 10);
  const std::vector<std::string> ids = {"leaked-connection", "leaked-socket",     "leaked-session",
                                        "inherited-socket",  "session-churn",     "dead-connection",
                                        "stale-connection",  "stale-session",     "connection-growth",
                                        "bad-close"};
  const std::vector<std::string> names = {"LeakedConnection", "LeakedSocket",     "LeakedSession",
                                          "InheritedSocket",  "SessionChurn",     "DeadConnection",
                                          "StaleConnection",  "StaleSession",     "ConnectionGrowth",
                                          "BadClose"};
  for (size_t i = 0; i < ids.size(); ++i) {
    INFO(ids[i]);
    CHECK(rules[i]["id"] == ids[i]);
    CHECK(rules[i]["name"] == names[i]);
    CHECK(!rules[i]["shortDescription"]["text"].get<std::string>().empty());
    CHECK(!rules[i]["fullDescription"]["text"].get<std::string>().empty());
    CHECK(!rules[i]["help"]["text"].get<std::string>().empty());
    CHECK(!rules[i]["help"]["markdown"].get<std::string>().empty());
    CHECK(rules[i]["defaultConfiguration"]["level"] == (i < 3 || ids[i] == "dead-connection" ? "error" : "warning"));
    CHECK(!rules[i]["properties"]["tags"].empty());
  }
}

TEST_CASE("sarif: all ten rules even without findings", "[render][sarif]") {
  Report r;
  r.tool_version = "0.3.1";
  const Json j = sarif(r);
  CHECK(j["runs"][0]["tool"]["driver"]["rules"].size() == 10);
  CHECK(j["runs"][0]["results"].is_array());
  CHECK(j["runs"][0]["results"].empty());
}

TEST_CASE("sarif: one result per finding, with rule, level and counts", "[render][sarif]") {
  const Json j = sarif(ci_report());
  const Json& results = j["runs"][0]["results"];
  REQUIRE(results.size() == 3);

  const Json& conn = results[0];
  CHECK(conn["ruleId"] == "leaked-connection");
  CHECK(conn["ruleIndex"] == 0);
  CHECK(conn["level"] == "error");
  const std::string message = conn["message"]["text"];
  CHECK(message.rfind("3 connections to 127.0.0.1:8080 opened here were never closed", 0) == 0);
  CHECK(message.find("3 instances in pids 100, 101") != std::string::npos);
  CHECK(conn["properties"]["count"] == 3);
  CHECK(conn["properties"]["pids"] == Json({100, 101}));
  CHECK(conn["properties"]["executables"] == Json({"/build/client_test", "/build/other_test"}));

  CHECK(results[1]["ruleId"] == "leaked-session");
  CHECK(results[1]["ruleIndex"] == 2);
  CHECK(results[2]["ruleId"] == "inherited-socket");
  CHECK(results[2]["ruleIndex"] == 3);
  CHECK(results[2]["level"] == "warning");
  CHECK(results[2]["message"]["text"].get<std::string>().find("(1 instance in pid 100)") !=
        std::string::npos);
}

TEST_CASE("sarif: location relative to the source root", "[render][sarif]") {
  for (const std::string root : {"/src", "/src/", "/src/./net/.."}) {
    INFO(root);
    const Json j = sarif(ci_report(), root);
    const Json& run = j["runs"][0];
    CHECK(run["originalUriBaseIds"]["SRCROOT"]["uri"] == "file:///src/");
    const Json& loc = run["results"][0]["locations"];
    REQUIRE(loc.size() == 1);
    const Json& physical = loc[0]["physicalLocation"];
    CHECK(physical["artifactLocation"]["uri"] == "net/client.c");
    CHECK(physical["artifactLocation"]["uriBaseId"] == "SRCROOT");
    CHECK(physical["region"]["startLine"] == 12);
    CHECK(loc[0]["logicalLocations"][0]["name"] == "open_conn");
  }
}

TEST_CASE("sarif: absolute file URI outside the source root", "[render][sarif]") {
  const Json j = sarif(ci_report());
  const Json& physical = j["runs"][0]["results"][2]["locations"][0]["physicalLocation"];
  CHECK(physical["artifactLocation"]["uri"] == "file:///opt/vendor/spawn.c");
  CHECK_FALSE(physical["artifactLocation"].contains("uriBaseId"));
  CHECK(physical["region"]["startLine"] == 7);

  // A sibling directory that shares the root's prefix is outside it too.
  Report r = ci_report();
  r.findings[0].stack[0].file = "/srcfoo/x.c";
  const Json k = sarif(r);
  const Json& art =
      k["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
  CHECK(art["uri"] == "file:///srcfoo/x.c");
  CHECK_FALSE(art.contains("uriBaseId"));
}

TEST_CASE("sarif: no source root, no base id", "[render][sarif]") {
  const Json j = sarif(ci_report(), "");
  const Json& run = j["runs"][0];
  CHECK_FALSE(run.contains("originalUriBaseIds"));
  const Json& art = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
  CHECK(art["uri"] == "file:///src/net/client.c");
  CHECK_FALSE(art.contains("uriBaseId"));
}

TEST_CASE("sarif: URIs are percent-encoded", "[render][sarif]") {
  Report r = ci_report();
  r.findings[0].stack[0].file = "/src/my dir/a#b%c.c";
  r.findings[2].stack[0].file = "/opt/ven dor/x.c";
  const Json j = sarif(r);
  const Json& results = j["runs"][0]["results"];
  CHECK(results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] ==
        "my%20dir/a%23b%25c.c");
  CHECK(results[2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] ==
        "file:///opt/ven%20dor/x.c");
}

TEST_CASE("sarif: without source, the module is the location", "[render][sarif]") {
  const Json j = sarif(ci_report());
  const Json& loc = j["runs"][0]["results"][1]["locations"];
  REQUIRE(loc.size() == 1);
  CHECK(loc[0]["physicalLocation"]["artifactLocation"]["uri"] == "file:///usr/lib/libcurl.so.4");
  CHECK_FALSE(loc[0]["physicalLocation"].contains("region"));

  // Nothing known at all: no location rather than a made-up one.
  Report r;
  Finding f;
  f.kind = "bad-close";
  f.severity = Severity::kWarning;
  f.message = "close of fd 5, which was not open";
  r.findings = {f};
  const Json k = sarif(r);
  CHECK(k["runs"][0]["results"][0]["locations"] == Json::array());
  CHECK_FALSE(k["runs"][0]["results"][0].contains("stacks"));
}

TEST_CASE("sarif: the whole creation stack", "[render][sarif]") {
  const Json j = sarif(ci_report());
  const Json& stacks = j["runs"][0]["results"][0]["stacks"];
  REQUIRE(stacks.size() == 1);
  const Json& frames = stacks[0]["frames"];
  REQUIRE(frames.size() == 3);
  CHECK(frames[0]["location"]["physicalLocation"]["artifactLocation"]["uri"] == "net/client.c");
  CHECK(frames[0]["location"]["physicalLocation"]["region"]["startLine"] == 12);
  CHECK(frames[0]["module"] == "/build/client_test");
  CHECK(frames[1]["location"]["physicalLocation"]["artifactLocation"]["uri"] ==
        "tests/client_test.c");
  CHECK(frames[1]["location"]["logicalLocations"][0]["name"] == "main");
  // Without source: the function and module, as text and logical location.
  CHECK_FALSE(frames[2]["location"].contains("physicalLocation"));
  CHECK(frames[2]["location"]["message"]["text"] ==
        "__libc_start_call_main (/lib/x86_64-linux-gnu/libc.so.6)");
  CHECK(frames[2]["location"]["logicalLocations"][0]["name"] == "__libc_start_call_main");
  CHECK(frames[2]["module"] == "/lib/x86_64-linux-gnu/libc.so.6");
}

TEST_CASE("sarif: partialFingerprints are stable", "[render][sarif]") {
  const Json a = sarif(ci_report());
  const Json b = sarif(ci_report());
  const Json& fp = a["runs"][0]["results"][0]["partialFingerprints"];
  CHECK(fp["connleakFingerprint/v1"] == "0123456789abcdef");
  for (size_t i = 0; i < 3; ++i)
    CHECK(a["runs"][0]["results"][i]["partialFingerprints"] ==
          b["runs"][0]["results"][i]["partialFingerprints"]);

  // Without one from the report: computed, stable, and not line-sensitive.
  Report r = ci_report();
  for (Finding& f : r.findings) f.fingerprint.clear();
  const Json c = sarif(r);
  r.findings[0].stack[0].line = 99;  // an edit above the leak moves it
  const Json d = sarif(r);
  const std::string fc =
      c["runs"][0]["results"][0]["partialFingerprints"]["connleakFingerprint/v1"];
  CHECK(fc.size() == 16);
  CHECK(fc == d["runs"][0]["results"][0]["partialFingerprints"]["connleakFingerprint/v1"]);
  CHECK(fc != c["runs"][0]["results"][1]["partialFingerprints"]["connleakFingerprint/v1"]);
}

TEST_CASE("sarif: baseline state", "[render][sarif]") {
  Report r = ci_report();
  r.has_baseline = true;
  r.findings[0].baseline_state = "new";
  r.findings[1].baseline_state = "unchanged";
  const Json j = sarif(r);
  const Json& results = j["runs"][0]["results"];
  CHECK(results[0]["baselineState"] == "new");
  CHECK(results[1]["baselineState"] == "unchanged");
  CHECK_FALSE(results[2].contains("baselineState"));
}

TEST_CASE("sarif: a kind it does not know gets a rule of its own", "[render][sarif]") {
  Report r = ci_report();
  r.findings[0].kind = "leaked-pipe";
  const Json j = sarif(r);
  const Json& rules = j["runs"][0]["tool"]["driver"]["rules"];
  REQUIRE(rules.size() == 11);
  CHECK(rules[10]["id"] == "leaked-pipe");
  CHECK(rules[10]["name"] == "LeakedPipe");
  CHECK(j["runs"][0]["results"][0]["ruleIndex"] == 10);
}

TEST_CASE("sarif: non-UTF-8 names and a non-semver version", "[render][sarif]") {
  Report r = ci_report();
  r.tool_version = "git-abc123";
  r.findings[0].stack[0].function = std::string("caf\xe9");
  const Json j = sarif(r);  // must not throw
  CHECK(j["runs"][0]["tool"]["driver"]["version"] == "git-abc123");
  CHECK_FALSE(j["runs"][0]["tool"]["driver"].contains("semanticVersion"));
  CHECK(j["runs"][0]["results"][0]["locations"][0]["logicalLocations"][0]["name"] ==
        "caf\xef\xbf\xbd");
}

TEST_CASE("junit: suites per executable, failures for errors", "[render][junit]") {
  const std::string xml = junit(ci_report());
  CHECK(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 0) == 0);
  CHECK(tag_balance_error(xml) == "");
  // client_test: the connection leak and the warning; other_test: the
  // connection leak (it has both executables) and the session leak.
  CHECK(xml.find("<testsuites name=\"connleak\" tests=\"4\" failures=\"3\"") != std::string::npos);
  CHECK(xml.find("<testsuite name=\"/build/client_test\" tests=\"2\" failures=\"1\"") !=
        std::string::npos);
  CHECK(xml.find("<testsuite name=\"/build/other_test\" tests=\"2\" failures=\"2\"") !=
        std::string::npos);
  CHECK(occurrences(xml, "<testsuite ") == 2);
  CHECK(occurrences(xml, "<testcase ") == 4);
  CHECK(occurrences(xml, "<failure ") == 3);
  CHECK(occurrences(xml, "</failure>") == 3);
  CHECK(occurrences(xml,
                    "<testcase classname=\"connleak.leaked-connection\" "
                    "name=\"open_conn (client.c:12)\">") == 2);
  CHECK(xml.find("<failure type=\"leaked-connection\" message=\"3 connections to "
                 "127.0.0.1:8080 opened here were never closed\">") != std::string::npos);
  // Without source: the function and its module.
  CHECK(xml.find("<testcase classname=\"connleak.leaked-session\" "
                 "name=\"curl_easy_init (libcurl.so.4)\">") != std::string::npos);
}

TEST_CASE("junit: the failure text has the stack and the instances", "[render][junit]") {
  const std::string xml = junit(ci_report());
  const size_t begin = xml.find("<failure type=\"leaked-connection\"");
  REQUIRE(begin != std::string::npos);
  const std::string failure = xml.substr(begin, xml.find("</failure>", begin) - begin);
  CHECK(failure.find("connleak: leaked-connection: 3 connections") != std::string::npos);
  CHECK(failure.find("#0 0x401136 in open_conn /src/net/client.c:12") != std::string::npos);
  CHECK(failure.find("#2 0x7f0000029d90 in __libc_start_call_main") != std::string::npos);
  CHECK(failure.find("in pid 101 (/build/other_test): fd 5 127.0.0.1:40005 -&gt; "
                     "127.0.0.1:8080") != std::string::npos);
  CHECK(failure.find("SUMMARY:") == std::string::npos);
}

TEST_CASE("junit: warnings pass and carry their text", "[render][junit]") {
  const std::string xml = junit(ci_report());
  const size_t begin = xml.find("<testcase classname=\"connleak.inherited-socket\"");
  REQUIRE(begin != std::string::npos);
  const std::string test = xml.substr(begin, xml.find("</testcase>", begin) - begin);
  CHECK(test.find("name=\"spawn_helper (spawn.c:7)\"") != std::string::npos);
  CHECK(test.find("<property name=\"severity\" value=\"warning\"/>") != std::string::npos);
  CHECK(test.find("<failure") == std::string::npos);
  CHECK(test.find("<system-out>connleak: inherited-socket: a socket without close-on-exec") !=
        std::string::npos);
}

TEST_CASE("junit: escaping of messages and names", "[render][junit]") {
  Report r = ci_report();
  r.findings[0].message = "a <b> & \"c\" 'd'\x01 e\nf";
  r.findings[0].stack[0].function = "std::vector<int>::push_back";
  const std::string xml = junit(r);
  CHECK(tag_balance_error(xml) == "");
  CHECK(xml.find("message=\"a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;\xef\xbf\xbd e&#10;f\"") !=
        std::string::npos);
  CHECK(xml.find("name=\"std::vector&lt;int&gt;::push_back (client.c:12)\"") != std::string::npos);
  CHECK(xml.find(">connleak: leaked-connection: a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;") !=
        std::string::npos);
  CHECK(xml.find('\x01') == std::string::npos);
  // Bytes that are not UTF-8 become U+FFFD; valid UTF-8 stays.
  r.findings[0].message = std::string("caf\xe9 \xc3\xa9t\xc3\xa9 \xed\xa0\x80!");
  const std::string latin = junit(r);
  CHECK(latin.find("message=\"caf\xef\xbf\xbd \xc3\xa9t\xc3\xa9 \xef\xbf\xbd") !=
        std::string::npos);
}

TEST_CASE("junit: same site twice in one suite gets distinct names", "[render][junit]") {
  Report r = ci_report();
  Finding again = connection_leak();
  again.stack[1].function = "other_caller";
  again.fingerprint = "1111111111111111";
  r.findings.push_back(again);
  const std::string xml = junit(r);
  CHECK(occurrences(xml, "name=\"open_conn (client.c:12)\"") == 2);
  CHECK(occurrences(xml, "name=\"open_conn (client.c:12) #2\"") == 2);
}

TEST_CASE("junit: a clean run still shows up", "[render][junit]") {
  Report r;
  r.processes = {process(100, "/build/b"), process(101, "/build/a"), process(102, "/build/a")};
  const std::string xml = junit(r);
  CHECK(tag_balance_error(xml) == "");
  CHECK(xml.find("<testsuites name=\"connleak\" tests=\"2\" failures=\"0\"") != std::string::npos);
  CHECK(occurrences(xml, "<testcase classname=\"connleak\" name=\"no leaks\"/>") == 2);
  CHECK(xml.find("<testsuite name=\"/build/a\" tests=\"1\" failures=\"0\"") <
        xml.find("<testsuite name=\"/build/b\" tests=\"1\" failures=\"0\""));

  const std::string nothing = junit(Report{});
  CHECK(tag_balance_error(nothing) == "");
  CHECK(nothing.find("<testsuite name=\"connleak\" tests=\"1\" failures=\"0\"") !=
        std::string::npos);
  CHECK(occurrences(nothing, "name=\"no leaks\"") == 1);
}
