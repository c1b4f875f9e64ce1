// Detectors: each looks at the lifetime model and names the objects that
// make up one kind of finding. Grouping, symbolization and wording happen
// later (report_builder), the same for every detector.
#pragma once

#include <string>
#include <vector>

#include "model/model.h"
#include "report/report.h"

namespace connleak {

// One leaked object, before grouping.
struct Leak {
  std::string kind;
  Severity severity = Severity::kError;
  StackRef stack;   // where it was created (bad-close: the offending close)
  int socket = -1;  // index into Model::sockets, -1 when none is known
  int process = -1; // where it was seen (index into Model::processes)
  int fd = -1;      // for a leak without a known socket
  int session = -1; // index into Model::sessions, for session findings
  int site = -1;    // index into Model::sites, for connection-growth
};

struct DetectorOptions {
  // Also report sockets an image inherited at its start (exec, spawn) and
  // still held at its end.
  bool include_inherited = false;
  // session-churn: this many single-transfer sessions from one call site.
  int churn_threshold = 3;
  // stale-connection and stale-session: a running process's connection or
  // session idle for longer. 30 s:
  // longer than any request a service should take, well under the minutes
  // that idle pools and keep-alive timeouts use, so a held connection that
  // does nothing shows within a minute of looking.
  uint64_t idle_threshold_ns = 30'000'000'000ull;
};

// leaked-connection: a connected (connect/accept) socket still open when its
// process ended. leaked-socket: any other socket still open then.
std::vector<Leak> detect_leaked_sockets(const Model& model, const DetectorOptions& options);

// inherited-socket: a socket without close-on-exec that lived on in the
// image an exec or posix_spawn started.
std::vector<Leak> detect_inherited_sockets(const Model& model);

// bad-close: close() of a socket fd that was already closed.
std::vector<Leak> detect_bad_closes(const Model& model);

// leaked-session: a session the program made and never invalidated.
std::vector<Leak> detect_leaked_sessions(const Model& model);

// session-churn: one call site made many sessions that each did one transfer.
std::vector<Leak> detect_session_churn(const Model& model, const DetectorOptions& options);

// In running processes: dead-connection, a connection the peer closed
// (CLOSE_WAIT now) that the program still holds; stale-connection, one idle
// for longer than the idle threshold.
std::vector<Leak> detect_live_connections(const Model& model, const DetectorOptions& options);

// In running processes: stale-session, a session that still holds
// connections and has completed no transfer for longer than the idle threshold.
std::vector<Leak> detect_stale_sessions(const Model& model, const DetectorOptions& options);

// connection-growth: a creation site whose open sockets or sessions kept
// growing while its process worked (growth.h), live or after it ended.
std::vector<Leak> detect_connection_growth(const Model& model);

// Every detector, in report order.
std::vector<Leak> run_detectors(const Model& model, const DetectorOptions& options = {});

}  // namespace connleak
