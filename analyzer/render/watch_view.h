// What `connleak watch` shows: one row per creation site (a socket() or
// accept() stack, or a session constructor's), over every process that
// used it, sorted by how many are open now.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "model/live_traces.h"
#include "symbols/symbolizer.h"

namespace connleak {

struct SiteRow {
  std::string site;  // "handle_request (leaky_server.c:25)"
  std::string what;  // "tcp", "unix stream", "curl_easy session", ...
  int64_t open = 0;
  uint64_t opened = 0;
  uint64_t closed = 0;
  double per_minute = 0;        // growth of the open count (last 10 minutes), running processes
  uint64_t oldest_idle_ns = 0;  // among those open in running processes
  size_t close_wait = 0;        // open sockets the peer has closed
  size_t processes = 0;
};

struct WatchSnapshot {
  std::vector<SiteRow> rows;
  size_t processes = 0;
  size_t running = 0;
  uint64_t sockets_open = 0;
};

// Names sites by their innermost frame in the program's own code.
class SiteNamer {
 public:
  std::string name(const Model& model, const StackRef& stack);

 private:
  Symbolizer symbolizer_;
  std::map<std::string, std::string> names_;  // by Model::stack_key
};

WatchSnapshot take_snapshot(const LiveTraces& live, SiteNamer& namer, uint64_t now_mono_ns);

// A terminal: the screen redrawn, rows cut to `max_rows`. Otherwise plain
// lines (a header line with the time, then one line per site), for logs and
// scripts.
void render_watch(const WatchSnapshot& snapshot, const std::string& source, bool terminal, size_t max_rows,
                  std::ostream& out);

}  // namespace connleak
