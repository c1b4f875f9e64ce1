// SARIF 2.1.0 for code scanning (GitHub, and any SARIF viewer): one rule per
// finding kind, one result per finding, located at the first frame of the
// creation stack that has source, with the whole stack in result.stacks and
// the report's fingerprint as the result's identity across runs. The file
// passes the SARIF multitool's validator with the GitHub ingestion rules
// (tests/ci_formats/validate_sarif.sh).
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "render/render.h"

namespace connleak {
namespace {

using Json = nlohmann::ordered_json;
namespace fs = std::filesystem;

constexpr const char* kSchema = "https://json.schemastore.org/sarif-2.1.0.json";
// Placeholder project address; SARIF viewers link the tool name to it.
constexpr const char* kSourceRootId = "SRCROOT";
constexpr const char* kFingerprintKey = "connleakFingerprint/v1";

// What code scanning shows for a rule: the short description as the alert's
// title, the help as the alert's "show more".
struct RuleText {
  const char* id;  // the finding kind
  const char* name;
  const char* level;
  const char* short_description;
  const char* full_description;
  const char* help_text;
  const char* help_markdown;
  std::vector<const char*> tags;
};

const std::vector<RuleText>& known_rules() {
  static const std::vector<RuleText> rules = {
      {"leaked-connection",
       "LeakedConnection",
       "error",
       "A connected socket was never closed",
       "A socket that was connected (connect) or accepted (accept) here was still open when its "
       "process ended: the connection, and the peer's resources for it, stayed open until exit.",
       "A connected socket created by this call was still open when its process ended. Close "
       "it (close, or fclose for an fdopen'ed stream) as soon as the exchange is done, on every "
       "path including errors; give each socket one owner that closes it. If a session (libcurl, "
       "OpenSSL, ...) holds the socket, fix the leaked session instead. A connection that is "
       "meant to live as long as the process can be suppressed with a "
       "'leaked-connection:PATTERN' line in a suppressions file.",
       "A **connected socket** (from `connect` or `accept`) created by this call was still open "
       "when its process ended.\n\n"
       "**How to fix:** close it (`close`, or `fclose` for an `fdopen`ed stream) as soon as the "
       "exchange is done, on every path including error paths, and give each socket one owner "
       "that closes it. If the report says a session (libcurl, OpenSSL, ...) holds the socket, "
       "fix that `leaked-session` instead.\n\n"
       "A connection meant to live as long as the process can be suppressed with a "
       "`leaked-connection:PATTERN` line in a suppressions file.",
       {"reliability", "resource-leak", "network", "socket"}},
      {"leaked-socket",
       "LeakedSocket",
       "error",
       "An unconnected or listening socket was never closed",
       "A socket created here that was never connected, or that was listening, was still open "
       "when its process ended.",
       "A socket created by this call (never connected, or listening) was still open when its "
       "process ended. Close it when it is no longer needed, on every path including errors: a "
       "listening socket when the server stops, a socket whose connect failed before retrying. "
       "A socket meant to live as long as the process can be suppressed with a "
       "'leaked-socket:PATTERN' line in a suppressions file.",
       "A socket created by this call (**never connected, or listening**) was still open when "
       "its process ended.\n\n"
       "**How to fix:** `close` it when it is no longer needed, on every path including error "
       "paths: a listening socket when the server stops, a socket whose `connect` failed before "
       "retrying with a new one.\n\n"
       "A socket meant to live as long as the process can be suppressed with a "
       "`leaked-socket:PATTERN` line in a suppressions file.",
       {"reliability", "resource-leak", "network", "socket"}},
      {"leaked-session",
       "LeakedSession",
       "error",
       "A networking session was never invalidated",
       "A session created here (a libcurl easy, multi or share handle, an OpenSSL SSL or "
       "SSL_CTX, or a session type annotated with connleak.h) was never cleaned up; the "
       "connections it cached stayed open until its process ended.",
       "A session created by this call was never cleaned up, so the connections it cached "
       "stayed open until the process ended. Call the API's cleanup when the work is done, on "
       "every path: curl_easy_cleanup, curl_multi_cleanup, curl_share_cleanup, SSL_free, "
       "SSL_CTX_free, or connleak_session_end for an annotated session. Better still, create "
       "one long-lived session, reuse it for every transfer and clean it up at shutdown.",
       "A **session** created by this call (libcurl easy/multi/share handle, OpenSSL `SSL` or "
       "`SSL_CTX`, or a type annotated with `connleak.h`) was never cleaned up, so the "
       "connections it cached stayed open until the process ended.\n\n"
       "**How to fix:** call the API's cleanup when the work is done, on every path: "
       "`curl_easy_cleanup`, `curl_multi_cleanup`, `curl_share_cleanup`, `SSL_free`, "
       "`SSL_CTX_free`, or `connleak_session_end` for an annotated session. Better still, "
       "create one long-lived session, reuse it for every transfer and clean it up at "
       "shutdown.",
       {"reliability", "resource-leak", "network", "session"}},
      {"inherited-socket",
       "InheritedSocket",
       "warning",
       "A socket survived an exec without close-on-exec",
       "A socket created here had no close-on-exec flag and survived an exec into another "
       "program, which now holds a connection it knows nothing about.",
       "A socket created by this call had no close-on-exec flag and survived an exec into "
       "another program. The new program keeps the connection (or listening port) open without "
       "knowing it. Create sockets with SOCK_CLOEXEC (socket, socketpair, accept4) or set "
       "FD_CLOEXEC with fcntl. If the new program is meant to inherit the socket, suppress the "
       "finding with an 'inherited-socket:PATTERN' line in a suppressions file.",
       "A socket created by this call had **no close-on-exec flag** and survived an `exec` "
       "into another program, which keeps the connection (or listening port) open without "
       "knowing it.\n\n"
       "**How to fix:** create sockets with `SOCK_CLOEXEC` (`socket`, `socketpair`, `accept4`) "
       "or set `FD_CLOEXEC` with `fcntl`. If the new program is meant to inherit the socket, "
       "suppress the finding with an `inherited-socket:PATTERN` line in a suppressions file.",
       {"reliability", "network", "socket", "exec"}},
      {"session-churn",
       "SessionChurn",
       "warning",
       "Many single-transfer sessions from one call site",
       "This call site created many sessions that each did a single transfer: every transfer "
       "paid for a new connection (and TLS handshake) instead of reusing one.",
       "This call site created many sessions that each did a single transfer, so every "
       "transfer paid for a new connection and handshake. Create the session once and reuse it "
       "for every transfer (libcurl keeps the connection alive and reuses it; an SSL_CTX can be "
       "shared by many connections), then clean it up at shutdown.",
       "This call site created **many sessions that each did a single transfer**, so every "
       "transfer paid for a new connection and handshake.\n\n"
       "**How to fix:** create the session once and reuse it for every transfer (a libcurl easy "
       "handle keeps its connection alive and reuses it; one `SSL_CTX` can serve many "
       "connections), then clean it up at shutdown.",
       {"performance", "network", "session"}},
      {"dead-connection",
       "DeadConnection",
       "error",
       "A running process holds a connection its peer closed",
       "A connection made here is still held by a running process although its peer has closed "
       "it (CLOSE_WAIT): the program never noticed and never closed it.",
       "A connection made by this call is still held by a running process although the peer "
       "has closed it: the socket sits in CLOSE_WAIT. Such sockets pile up until the process "
       "runs out of file descriptors. Close the socket when a read returns 0 (end of stream), "
       "and give every connection an owner that closes it when its work is done.",
       "A connection made by this call is **still held by a running process although the peer "
       "has closed it** (`CLOSE_WAIT`). Such sockets pile up until the process runs out of file "
       "descriptors.\n\n"
       "**How to fix:** close the socket when a read returns 0 (end of stream), and give every "
       "connection an owner that closes it when its work is done.",
       {"reliability", "resource-leak", "network", "live"}},
      {"stale-connection",
       "StaleConnection",
       "warning",
       "A running process holds an idle connection",
       "A connection made here has been idle in a running process for longer than the idle "
       "threshold.",
       "A connection made by this call has done no I/O for longer than the idle threshold "
       "(--idle-threshold) in a process that is still running. It may be a pooled connection "
       "waiting for work, or one nobody will use or close again. Close connections whose work "
       "is done, or bound how long a pool keeps idle ones.",
       "A connection made by this call has done **no I/O for longer than the idle threshold** "
       "(`--idle-threshold`) in a process that is still running. It may be pooled and waiting "
       "for work, or one nobody will use or close again.\n\n"
       "**How to fix:** close connections whose work is done, or bound how long a pool keeps "
       "idle ones.",
       {"reliability", "network", "live"}},
      {"stale-session",
       "StaleSession",
       "warning",
       "A running process holds an idle session with open connections",
       "A session created here has completed no transfer for longer than the idle threshold in "
       "a running process, and still holds connections.",
       "A session created by this call has completed no transfer for longer than the idle "
       "threshold (--idle-threshold) in a process that is still running, and it still holds "
       "connections. A session nobody uses again keeps its connections open until the process "
       "exits. Invalidate sessions whose work is done (curl_easy_cleanup, SSL_free, ...), or "
       "reuse one session for every request.",
       "A session created by this call has **completed no transfer for longer than the idle "
       "threshold** (`--idle-threshold`) in a process that is still running, and it **still "
       "holds connections**.\n\n"
       "**How to fix:** invalidate sessions whose work is done (`curl_easy_cleanup`, "
       "`SSL_free`, ...), or reuse one session for every request.",
       {"reliability", "resource-leak", "session", "live"}},
      {"connection-growth",
       "ConnectionGrowth",
       "warning",
       "The open connections or sessions of one call site keep growing",
       "The number of sockets or sessions opened here and still open grew steadily while the "
       "process worked.",
       "The sockets or sessions created by this call pile up: their open count grew steadily "
       "while the process worked, and fewer were closed than opened. In a long-running process "
       "this ends in 'Too many open files' or an exhausted server. Find the path on which they "
       "are not closed (the leaked instances, live or at exit, show where they were created).",
       "The sockets or sessions created by this call **pile up**: their open count grew "
       "steadily while the process worked. In a long-running process this ends in "
       "`Too many open files` or an exhausted server.\n\n"
       "**How to fix:** find the path on which they are not closed, and give each one an owner "
       "that closes it when its work is done.",
       {"reliability", "resource-leak", "network", "live"}},
      {"bad-close",
       "BadClose",
       "warning",
       "A socket fd was closed that was not open",
       "A close of a socket fd that was already closed: a double close, or a close of an fd "
       "number that another part of the program had reused.",
       "This close was of a socket fd that was already closed: a double close, or closing an "
       "fd that belongs to someone else. In a threaded program the fd number may already have "
       "been reused for another thread's socket or file, which this close then breaks. Give "
       "each fd one owner, set the variable to -1 after closing and do not close it again.",
       "This `close` was of a socket fd that was **already closed**: a double close, or "
       "closing an fd that belongs to someone else. In a threaded program the fd number may "
       "already have been reused for another thread's socket or file, which this close then "
       "breaks.\n\n"
       "**How to fix:** give each fd one owner, set the variable to `-1` after closing and do "
       "not close it again.",
       {"reliability", "correctness", "socket"}},
  };
  return rules;
}

Json message(const std::string& text) { return Json{{"text", text}}; }

Json rule_json(const RuleText& rule) {
  return Json{
      {"id", rule.id},
      {"name", rule.name},
      {"shortDescription", message(rule.short_description)},
      {"fullDescription", message(rule.full_description)},
      {"help", Json{{"text", rule.help_text}, {"markdown", rule.help_markdown}}},
      {"defaultConfiguration", Json{{"level", rule.level}}},
      {"properties", Json{{"tags", rule.tags}}},
  };
}

// A kind this renderer does not know yet still gets a rule, so that every
// result's ruleIndex points at its rule.
Json unknown_rule_json(const std::string& kind, Severity severity) {
  std::string name;
  bool upper = true;
  for (char c : kind) {
    if (c == '-' || c == '_' || c == ' ') {
      upper = true;
      continue;
    }
    name += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  const std::string text = "connleak finding of kind " + kind;
  return Json{
      {"id", kind},
      {"name", name.empty() ? std::string("Unknown") : name},
      {"shortDescription", message(text)},
      {"fullDescription", message(text + ".")},
      {"help", Json{{"text", text + "; see the connleak documentation."},
                    {"markdown",
                     "connleak finding of kind `" + kind + "`; see the connleak documentation."}}},
      {"defaultConfiguration",
       Json{{"level", severity == Severity::kWarning ? "warning" : "error"}}},
      {"properties", Json{{"tags", Json::array({"reliability"})}}},
  };
}

// Percent-encodes a path for a URI: what is not unreserved or a harmless
// sub-delimiter, and every non-ASCII byte (UTF-8 or not). ':' is encoded too,
// so a relative reference never reads as a scheme.
std::string uri_encode_path(const std::string& path) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    const bool keep =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        std::string_view("-._~/!$&'()*+,;=@").find(static_cast<char>(c)) != std::string_view::npos;
    if (keep) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string file_uri(const fs::path& absolute) {
  return "file://" + uri_encode_path(absolute.generic_string());
}

// The source root, normalized, absolute; empty when not given.
fs::path normalized_root(const SarifOptions& options) {
  if (options.source_root.empty()) return {};
  fs::path root(options.source_root);
  if (root.is_relative()) {
    std::error_code ec;
    root = fs::absolute(root, ec);
  }
  root = root.lexically_normal();
  // "/src/" normalizes to "/src/" (an empty last element); drop it.
  if (!root.has_filename() && root.has_parent_path() && root != root.root_path())
    root = root.parent_path();
  return root;
}

// The file URI of the source root, with the trailing slash SARIF requires
// of a uriBaseId's value.
std::string root_uri(const fs::path& root) {
  std::string uri = file_uri(root);
  if (uri.back() != '/') uri += '/';
  return uri;
}

// An artifactLocation for a file as the report names it: relative to the
// source root (uriBaseId SRCROOT) when under it, else an absolute file URI.
// A relative path is taken relative to the source root when one is given,
// and left as a relative reference when none is.
Json artifact_location(const std::string& file, const fs::path& root) {
  fs::path path(file);
  if (path.is_relative()) {
    if (root.empty())
      return Json{{"uri", uri_encode_path(path.lexically_normal().generic_string())}};
    path = root / path;
  }
  path = path.lexically_normal();
  if (!root.empty()) {
    const fs::path relative = path.lexically_relative(root);
    const std::string text = relative.generic_string();
    const bool under =
        !relative.empty() && text != "." && text != ".." && text.rfind("../", 0) != 0;
    if (under) return Json{{"uri", uri_encode_path(text)}, {"uriBaseId", kSourceRootId}};
  }
  return Json{{"uri", file_uri(path)}};
}

bool has_source(const Frame& frame) { return !frame.file.empty() && frame.line > 0; }

Json logical_locations(const Frame& frame) {
  Json logical = Json::array();
  if (!frame.function.empty())
    logical.push_back(Json{{"name", frame.function}, {"kind", "function"}});
  return logical;
}

// "open_conn (/tmp/leak)", for frames without source.
std::string frame_text(const Frame& frame) {
  std::string text = frame.function.empty() ? std::string("<unknown function>") : frame.function;
  text += " (" + (frame.module.empty() ? std::string("<unknown module>") : frame.module) + ")";
  if (frame.inlined) text += " (inlined)";
  return text;
}

// A frame as a location: its file and line when known; else only a message
// and the function, which is all a viewer can show of it.
Json frame_location(const Frame& frame, const fs::path& root) {
  Json location = Json::object();
  if (!frame.file.empty()) {
    Json physical{{"artifactLocation", artifact_location(frame.file, root)}};
    if (frame.line > 0) physical["region"] = Json{{"startLine", frame.line}};
    location["physicalLocation"] = std::move(physical);
  } else {
    location["message"] = message(frame_text(frame));
  }
  Json logical = logical_locations(frame);
  if (!logical.empty()) location["logicalLocations"] = std::move(logical);
  return location;
}

Json stack_json(const Finding& finding, const fs::path& root) {
  Json frames = Json::array();
  for (const Frame& frame : finding.stack) {
    Json entry{{"location", frame_location(frame, root)}};
    if (!frame.module.empty()) entry["module"] = frame.module;
    Json properties{{"address", hex_string(frame.address)}};
    if (frame.inlined) properties["inlined"] = true;
    entry["properties"] = std::move(properties);
    frames.push_back(std::move(entry));
  }
  return Json{{"message", message("Where it was created (innermost call first)")},
              {"frames", std::move(frames)}};
}

// The result's one location: the first frame with source; failing that, the
// module of the first frame that has one, or the executable, without a region
// (code scanning rejects a result without a location).
Json primary_locations(const Finding& finding, const fs::path& root) {
  for (const Frame& frame : finding.stack) {
    if (!has_source(frame)) continue;
    Json location{
        {"physicalLocation", Json{{"artifactLocation", artifact_location(frame.file, root)},
                                  {"region", Json{{"startLine", frame.line}}}}}};
    Json logical = logical_locations(frame);
    if (!logical.empty()) location["logicalLocations"] = std::move(logical);
    return Json::array({std::move(location)});
  }
  std::string binary;
  for (const Frame& frame : finding.stack) {
    if (!frame.module.empty() && frame.module.front() == '/') {
      binary = frame.module;
      break;
    }
  }
  if (binary.empty()) {
    for (const std::string& exe : finding.executables) {
      if (!exe.empty() && exe.front() == '/') {
        binary = exe;
        break;
      }
    }
  }
  if (binary.empty()) return Json::array();
  return Json::array(
      {Json{{"physicalLocation", Json{{"artifactLocation", artifact_location(binary, root)}}}}});
}


// "... (3 instances in pids 12, 13)": how much is behind one alert.
std::string result_text(const Finding& finding) {
  constexpr size_t kMaxPids = 10;
  const size_t n = finding.count();
  std::string text =
      finding.message + " (" + std::to_string(n) + (n == 1 ? " instance" : " instances");
  if (!finding.pids.empty()) {
    text += finding.pids.size() == 1 ? " in pid " : " in pids ";
    for (size_t i = 0; i < finding.pids.size() && i < kMaxPids; ++i)
      text += (i ? ", " : "") + std::to_string(finding.pids[i]);
    if (finding.pids.size() > kMaxPids)
      text += " and " + std::to_string(finding.pids.size() - kMaxPids) + " more";
  }
  return text + ")";
}

Json result_json(const Finding& finding, size_t rule_index, const fs::path& root) {
  Json result{
      {"ruleId", finding.kind},
      {"ruleIndex", rule_index},
      {"level", finding.severity == Severity::kWarning ? "warning" : "error"},
      {"message", message(result_text(finding))},
      {"locations", primary_locations(finding, root)},
  };
  if (!finding.stack.empty()) result["stacks"] = Json::array({stack_json(finding, root)});
  result["partialFingerprints"] =
      Json{{kFingerprintKey,
            finding.fingerprint.empty() ? fingerprint_of(finding) : finding.fingerprint}};
  if (finding.baseline_state == "new" || finding.baseline_state == "unchanged")
    result["baselineState"] = finding.baseline_state;
  result["properties"] = Json{
      {"count", finding.count()},
      {"pids", finding.pids},
      {"executables", finding.executables},
  };
  return result;
}

bool is_semantic_version(const std::string& version) {
  static const std::regex semver(
      R"(^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*))"
      R"((-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$)");
  return std::regex_match(version, semver);
}

Json driver_json(const Report& report, const Json& rules) {
  Json driver{{"name", "connleak"}};
  if (!report.tool_version.empty()) {
    driver["version"] = report.tool_version;
    if (is_semantic_version(report.tool_version)) driver["semanticVersion"] = report.tool_version;
  }
  driver["rules"] = rules;
  return driver;
}

Json sarif_json(const Report& report, const SarifOptions& options) {
  const fs::path root = normalized_root(options);

  Json rules = Json::array();
  std::vector<std::string> rule_ids;
  for (const RuleText& rule : known_rules()) {
    rules.push_back(rule_json(rule));
    rule_ids.push_back(rule.id);
  }
  Json results = Json::array();
  for (const Finding& finding : report.findings) {
    size_t index = 0;
    while (index < rule_ids.size() && rule_ids[index] != finding.kind) ++index;
    if (index == rule_ids.size()) {
      rules.push_back(unknown_rule_json(finding.kind, finding.severity));
      rule_ids.push_back(finding.kind);
    }
    results.push_back(result_json(finding, index, root));
  }

  Json run{{"tool", Json{{"driver", driver_json(report, rules)}}}};
  if (!root.empty())
    run["originalUriBaseIds"] = Json{{kSourceRootId, Json{{"uri", root_uri(root)}}}};
  run["results"] = std::move(results);
  run["columnKind"] = "utf16CodeUnits";
  // Events the shim could not record: the run is reported as incomplete,
  // never as clean.
  Json notifications = Json::array();
  for (const ProcessSummary& proc : report.processes) {
    if (!is_incomplete(proc)) continue;
    notifications.push_back(Json{
        {"level", "error"},
        {"message", Json{{"text", "pid " + std::to_string(proc.pid) + ": " + missing_from(proc) +
                                      "; the report is incomplete"}}}});
  }
  if (!notifications.empty()) {
    run["invocations"] = Json::array({Json{{"executionSuccessful", false},
                                           {"toolExecutionNotifications", std::move(notifications)}}});
  }
  return Json{
      {"$schema", kSchema},
      {"version", "2.1.0"},
      {"runs", Json::array({std::move(run)})},
  };
}

}  // namespace

void render_sarif(const Report& report, const SarifOptions& options, std::ostream& out) {
  // Names and paths come from the traced program and need not be UTF-8.
  out << sarif_json(report, options).dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
}

}  // namespace connleak
