// The leak report: what the detectors found, symbolized and grouped. Every
// renderer (text, json, ...) takes this one model as its input, so all
// formats say the same thing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "symbols/symbolizer.h"
#include "report/timeline.h"

namespace connleak {

enum class Severity { kError, kWarning };

// One traced process image (a pid between two execs, or a fork child).
struct ProcessSummary {
  int pid = 0;
  int ppid = 0;
  std::string exe;
  std::vector<std::string> argv;
  uint64_t start_ns = 0;  // CLOCK_REALTIME, ns since the epoch
  uint64_t end_ns = 0;
  std::string end;  // "exit", "exec", "signal", "unknown"
  std::optional<int> exit_status;
  std::optional<int> signal;  // when end == "signal" and the signal is known
  std::string trace;          // the trace file it was read from
  uint64_t lost_events = 0;   // events the shim saw but could not record
  uint64_t stacks_omitted = 0;  // events recorded without their stack
  // Children it forked that left no trace (none could be created, or it was
  // not among the inputs): their events are missing.
  uint64_t untraced_children = 0;
  // A bounded trace: its history before this time (CLOCK_REALTIME ns) was
  // summarized by a checkpoint, in which these many sockets were closed
  // (counted, not listed). Leaks are exact all the same.
  std::optional<uint64_t> history_summarized_before_ns;
  uint64_t closed_sockets_summarized = 0;
  // Sockets it still held when it ended that another process (a parent, a
  // sibling, a spawned child) held longer: not its leaks.
  struct SharedAtEnd {
    int fd = -1;
    int held_on_by = 0;  // pid
  };
  std::vector<SharedAtEnd> shared_at_end;
};

// The report cannot speak for this process in full.
inline bool is_incomplete(const ProcessSummary& proc) { return proc.lost_events || proc.untraced_children; }
// What is missing, in words ("12 events could not be recorded").
std::string missing_from(const ProcessSummary& proc);

// The session that holds a connection, and where it was created.
struct SessionRef {
  std::string api;
  uint64_t handle = 0;
  std::string function;
  std::string file;
  int line = 0;
};

// A connection a leaked session still held at the end.
struct HeldConnection {
  int fd = -1;
  std::string peer;
  std::string local;
  std::string tcp_state;
};

// Session facts, for leaked-session and session-churn instances.
struct SessionFacts {
  std::string api;
  uint64_t handle = 0;
  uint64_t completed_transfers = 0;
  uint64_t connections_opened = 0;
  std::optional<uint64_t> last_transfer_ns;
  std::vector<HeldConnection> connections;
};

// With --gen-suppressions: the rule that would suppress a finding, and why
// it is what it is (for the comment lines that go with it).
struct GeneratedSuppression {
  std::string rule;          // "leaked-connection:^open_conn$"; "" when no rule can (no stack)
  int frame = -1;            // the stack frame the pattern names
  bool by_module = false;    // that frame has no function name: the pattern names its module
  bool wildcarded = false;   // characters a pattern cannot spell ('*', '#') became '*'
  size_t also_matches = 0;   // other findings of the report the rule matches too
};

// connection-growth: how one creation site's open count grew.
struct GrowthFacts {
  bool sessions = false;  // counts sessions (of `api`), not sockets
  std::string api;
  int64_t open = 0;            // open at the window's end
  int64_t open_at_start = 0;   // open at its start
  uint64_t opened = 0;         // in the window
  uint64_t closed = 0;
  uint64_t opened_total = 0;   // over the process's life
  uint64_t closed_total = 0;
  double per_minute = 0;
  uint64_t window_ns = 0;
  uint64_t window_end_ns = 0;  // CLOCK_REALTIME
};

// One leaked object (a socket or a session) behind a finding.
struct LeakInstance {
  int pid = 0;
  int fd = -1;
  std::string family;    // "inet", "inet6", "unix", "netlink", ... or "other"
  std::string protocol;  // "tcp", "udp", "raw", "stream", "dgram", "seqpacket", ...
  std::string local;     // "127.0.0.1:40000", "[::1]:80", "/run/x.sock", "" = unknown
  std::string peer;
  uint64_t opened_ns = 0;
  std::optional<uint64_t> last_io_ns;
  std::optional<uint64_t> idle_ns;
  std::optional<uint64_t> bytes_sent;
  std::optional<uint64_t> bytes_received;
  std::string tcp_state;  // "ESTABLISHED", "CLOSE_WAIT", ... "" = unknown / not TCP
  bool listening = false;
  bool inherited = false;  // came from the parent across fork()
  // Other processes that shared this socket (fork, spawn) and let go of it
  // first: this one held the last reference.
  std::vector<int> shared_with;  // pids
  std::optional<SessionRef> session;  // the session that held this socket
  std::optional<SessionFacts> session_facts;  // this instance is a session
  std::optional<GrowthFacts> growth;          // this instance is a creation site
  // The object in the lifetime model (Model::sockets, Model::sessions), -1
  // when none: how the timeline marks the bars that findings name. Not
  // rendered.
  int model_socket = -1;
  int model_session = -1;
};

struct Finding {
  std::string kind;  // "leaked-connection", "leaked-socket", ...
  Severity severity = Severity::kError;
  std::string message;
  // Identifies the leak site across runs and code edits: a hash of the kind
  // and the stack's functions and source files (not line numbers, not
  // addresses). Baselines and SARIF partialFingerprints use it.
  std::string fingerprint;
  // With --baseline: "new" (not in the baseline) or "unchanged" (still there).
  std::string baseline_state;
  std::vector<Frame> stack;  // creation stack, innermost first
  std::vector<int> pids;     // sorted, unique
  std::vector<std::string> executables;  // sorted, unique
  std::vector<LeakInstance> instances;
  std::optional<GeneratedSuppression> generated_suppression;  // only with --gen-suppressions
  size_t count() const { return instances.size(); }
};

struct Summary {
  size_t findings = 0;
  size_t errors = 0;
  size_t warnings = 0;
  size_t sockets_opened = 0;
  size_t sessions_created = 0;
  size_t processes = 0;
};

// A suppression rule and how many findings it suppressed (0: stale).
struct SuppressionUse {
  std::string rule;      // "leak:libfoo.so"
  std::string location;  // "supp.txt:3"
  size_t matched = 0;
};

// A finding of the baseline that this run no longer has.
struct FixedFinding {
  std::string kind;
  std::string message;
  std::string fingerprint;
};

struct Report {
  std::string tool_version;
  std::vector<ProcessSummary> processes;
  std::vector<Finding> findings;  // unsuppressed; errors first, then by count, then by place
  Summary summary;
  std::vector<SuppressionUse> suppressions;  // every rule given, used or not
  bool has_baseline = false;
  std::vector<FixedFinding> fixed;  // in the baseline, gone now
  // Many frames without symbols: which debug-symbol packages would name them.
  std::string symbols_hint;
  // For the html and chrome-trace formats (AnalysisOptions::timeline).
  std::optional<Timeline> timeline;
};

// A finding's identity across runs and edits (Finding::fingerprint).
std::string fingerprint_of(const Finding& finding);

// The one-line summary that ends the text report and goes to stderr in CI:
// "SUMMARY: connleak: 2 leaked-connection (3 instances), 1 leaked-socket ..."
std::string summary_line(const Report& report);

}  // namespace connleak
