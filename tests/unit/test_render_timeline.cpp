// The timeline renderers on a hand-built timeline whose every string is
// hostile markup: the HTML page's data element never holds a '<' (so no
// trace string can end it or open a tag), the JSON inside it reads back
// unchanged, and chrome-trace pairs every begin with its end.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "render/render.h"
#include "report/report.h"

using connleak::BarKind;
using connleak::Frame;
using connleak::Report;
using connleak::Timeline;
using connleak::TimelineBar;
using connleak::TimelineProcess;

namespace {

const std::string kHostile = "</script><script>alert(1)</script><img src=x onerror=alert(2)>&amp;";

Report hostile_report() {
  Timeline t;
  TimelineProcess p;
  p.pid = 7;
  p.exe = "/tmp/" + kHostile;
  p.argv = {kHostile, "--x=" + kHostile};
  p.end = 5'000'000;
  p.end_kind = "exit";
  t.processes.push_back(p);
  TimelineBar session;
  session.kind = BarKind::kSession;
  session.process = 0;
  session.end = 5'000'000;
  session.api = "user:" + kHostile;
  session.finding = "leaked-session";
  session.how_ended = kHostile;
  session.stack = 0;
  t.bars.push_back(session);
  TimelineBar conn;
  conn.kind = BarKind::kConnection;
  conn.process = 0;
  conn.start = 1'000;
  conn.end = 4'000'000;
  conn.peer = "/run/" + kHostile;
  conn.local = kHostile;
  conn.family = "unix";
  conn.protocol = "stream";
  conn.session = 0;
  conn.stack = 0;
  t.bars.push_back(conn);
  Frame f;
  f.function = "std::vector<" + kHostile + ">::push_back";
  f.file = kHostile + ".cpp";
  f.line = 3;
  f.module = kHostile;
  t.stacks.push_back({f});
  t.span = 5'000'000;
  Report report;
  report.tool_version = "test";
  report.timeline = t;
  return report;
}

std::string data_element(const std::string& page) {
  const std::string open = "<script type=\"application/json\" id=\"connleak-data\">";
  size_t start = page.find(open);
  REQUIRE(start != std::string::npos);
  start += open.size();
  size_t end = page.find("</script>", start);
  REQUIRE(end != std::string::npos);
  return page.substr(start, end - start);
}

}  // namespace

TEST_CASE("html: trace strings stay inside the data element, escaped", "[render][timeline]") {
  std::ostringstream out;
  connleak::render_html(hostile_report(), out);
  std::string data = data_element(out.str());
  CHECK(data.find('<') == std::string::npos);
  CHECK(data.find('>') == std::string::npos);
  CHECK(data.find('&') == std::string::npos);
  auto json = nlohmann::json::parse(data);
  CHECK(json["processes"][0]["argv"][0] == kHostile);
  CHECK(json["bars"][1]["peer"] == "/run/" + kHostile);
  CHECK(json["stacks"][0][0]["function"] == "std::vector<" + kHostile + ">::push_back");
  CHECK(json["bars"][1]["session"] == 0);
}

TEST_CASE("html: the page is whole, with nothing to fetch", "[render][timeline]") {
  std::ostringstream out;
  connleak::render_html(hostile_report(), out);
  const std::string page = out.str();
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.find("/*CONNLEAK_") == std::string::npos);
  CHECK(page.find("CONNLEAK_DATA") == std::string::npos);
  CHECK(page.find("window.connleakReport") != std::string::npos);
  CHECK(page.find("default-src 'none'") != std::string::npos);
}

TEST_CASE("chrome-trace: one end per begin, names and stacks as data", "[render][timeline]") {
  std::ostringstream out;
  connleak::render_chrome_trace(hostile_report(), out);
  auto json = nlohmann::json::parse(out.str());
  int begins = 0, ends = 0;
  for (const auto& e : json["traceEvents"]) {
    if (e["ph"] == "b") ++begins;
    if (e["ph"] == "e") ++ends;
    if (e["ph"] == "b" && e["cat"] == "connection") CHECK(e["args"]["session"] == "user:" + kHostile);
    if (e["ph"] == "M" && e["name"] == "thread_name") CHECK(e["args"]["name"] == kHostile + " --x=" + kHostile);
  }
  CHECK(begins == 2);
  CHECK(ends == 2);
}
