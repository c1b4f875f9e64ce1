// The timeline of a run, for the html and chrome-trace formats: every
// process image, session and socket the programs used, from its creation to
// its close (or its process's end), with what the findings say about it.
// Times are CLOCK_MONOTONIC ns since the first traced process started.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "symbols/symbolizer.h"

namespace connleak {

struct TimelineProcess {
  int pid = 0;
  int ppid = 0;
  std::string exe;
  std::vector<std::string> argv;
  uint64_t start = 0;
  uint64_t end = 0;
  std::string end_kind;  // "exit", "exec", "signal", "unknown", "running"
  std::optional<int> exit_status;
  std::optional<int> signal;
  // Its place in the process tree: the fork parent, the image it was
  // exec'd from, or the traced image of its parent pid (spawn); -1: a root.
  int parent = -1;
  std::string origin;  // "fork", "exec", "spawn", "" for a root
  // A bounded trace: closed history before this time was summarized, so
  // the sockets closed in it are not drawn (0: nothing summarized).
  uint64_t summarized_before = 0;
};

enum class BarKind { kConnection, kSocket, kSession };

// One session or socket, as a bar from `start` to `end`.
struct TimelineBar {
  BarKind kind = BarKind::kSocket;
  int process = -1;  // index into Timeline::processes
  uint64_t start = 0;
  uint64_t end = 0;  // closed or invalidated; else its process's end
  std::optional<uint64_t> connected;  // connect() or accept()
  // Its last I/O (sockets) or completed transfer (sessions): what follows,
  // up to `end`, is idle. Unset: none.
  std::optional<uint64_t> last_active;
  bool open_at_end = false;  // never closed or invalidated
  std::string how_ended;     // "closed", "closed at exec", "open at exit", ...
  std::string finding;       // kind of the first finding that names it, "" none
  int finding_index = -1;    // that finding, in Report::findings
  int stack = -1;            // creation stack, index into Timeline::stacks
  // Sockets.
  int fd = -1;
  std::string family;
  std::string protocol;
  std::string local;
  std::string peer;
  std::string tcp_state;
  bool listening = false;
  bool accepted = false;
  std::optional<uint64_t> bytes_sent;
  std::optional<uint64_t> bytes_received;
  int session = -1;  // the bar of the session that held it
  // Sessions.
  std::string api;
  uint64_t handle = 0;
  uint64_t completed_transfers = 0;
  uint64_t connections_opened = 0;
};

// A point event in a process: it forked a child, exec'd, closed a closed fd.
struct TimelineMark {
  std::string kind;  // "fork", "exec", "bad-close"
  int process = -1;
  uint64_t at = 0;
  int child = -1;  // fork: the child's process index
  int fd = -1;     // bad-close
  int stack = -1;
};

struct Timeline {
  uint64_t origin_real_ns = 0;  // CLOCK_REALTIME of time 0
  uint64_t span = 0;            // the last process end
  std::vector<TimelineProcess> processes;
  std::vector<TimelineBar> bars;  // by process, then start
  std::vector<TimelineMark> marks;
  std::vector<std::vector<Frame>> stacks;
  size_t bars_not_kept = 0;  // closed sockets beyond ModelOptions::max_closed
};

}  // namespace connleak
