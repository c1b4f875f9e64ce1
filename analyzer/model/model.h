// The lifetime model: every traced process image and every socket it held,
// rebuilt from the trace files by replaying their records in order. This is
// what the detectors look at.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "symbols/symbolizer.h"
#include "trace/trace_reader.h"

namespace connleak {

// A stack as the shim recorded it: an id in the dictionary of one trace
// (falling back to the parent's trace for a fork child).
struct StackRef {
  int process = -1;  // index into Model::processes
  uint32_t id = 0;   // 0: no stack recorded
};

// kRunning: no end record, and the pid still names the process that wrote
// the trace (running.cpp): judged live.
enum class ProcessEnd { kExit, kExec, kSignal, kUnknown, kRunning };

struct ProcessLife {
  std::string trace;  // file name
  int pid = 0;
  int ppid = 0;
  std::string exe;
  std::vector<std::string> argv;
  uint64_t start_mono_ns = 0;
  uint64_t start_real_ns = 0;
  uint64_t end_mono_ns = 0;  // the end record, or the last event seen
  ProcessEnd end = ProcessEnd::kUnknown;
  std::optional<int> exit_status;
  std::optional<int> signal;
  int parent = -1;  // the fork parent's process index, if it was traced
  bool forked = false;
  uint64_t lost_events = 0;
  uint64_t stacks_omitted = 0;  // events recorded without their stack
  uint64_t untraced_children = 0;  // Fork records no child trace names
  // A bounded trace read from a checkpoint: the history before this time
  // (0: none) is known only as counts; these many sockets were closed in it.
  uint64_t summarized_before_mono_ns = 0;
  uint64_t closed_sockets_summarized = 0;
  // Sockets it may have handed to the next image (inode -> socket index):
  // at its exec, and per posix_spawn()ed child pid.
  std::map<uint64_t, int> passed_on_at_exec;
  std::map<int, std::map<uint64_t, int>> passed_on_at_spawn;
  std::vector<ModuleInfo> modules;  // its own; a fork child also sees its parent's
  std::unordered_map<uint32_t, std::vector<uint64_t>> stacks;

  uint64_t to_real_ns(uint64_t mono_ns) const { return mono_ns - start_mono_ns + start_real_ns; }
};

enum class SocketEnd {
  kOpen,             // still open when its process ended: a leak
  kClosed,           // its last fd was closed
  kClosedAtExec,     // close-on-exec
  kPassedOnAtExec,   // survived exec into the next image
  kClosedUnseen,     // closed where the shim could not see (raw syscall, libc-internal)
  // Still open when its process ended, while another process that shared
  // it (fork, spawn) held it longer: that one's reference was the last.
  kHeldElsewhere,
};

struct SocketLife {
  int process = -1;
  int fd = -1;  // the fd it was created with (or inherited as)
  int domain = 0;
  int type = 0;
  int protocol = 0;
  bool from_socketpair = false;
  bool accepted = false;
  bool received = false;   // came in with SCM_RIGHTS
  bool inherited = false;  // a copy a fork child got from its parent
  bool inherited_at_start = false;  // was open when the image started (exec, spawn)
  uint64_t inode = 0;      // known for sockets inherited at start
  bool connected = false;
  bool listening = false;
  bool shut_down = false;
  int connect_error = 0;
  uint64_t opened_mono_ns = 0;
  uint64_t connected_mono_ns = 0;  // its connect() or accept(), 0 = never
  StackRef open_stack;
  StackRef connect_stack;  // connect() or accept()
  std::string peer;   // raw struct sockaddr bytes
  std::string local;  // raw struct sockaddr bytes
  SocketEnd end = SocketEnd::kOpen;
  // Referenced from elsewhere in the model (a bad close, a hand-over): its
  // slot is kept when it closes.
  bool pinned = false;
  bool recycled = false;  // a free slot: a closed socket nothing refers to
  int fd_refs = 0;        // fds referring to it during the replay
  uint64_t end_mono_ns = 0;
  std::vector<int> open_fds;  // at the process end: the fds still referring to it
  uint8_t tcp_state = 0;      // from the exit check, 0 = unknown
  bool has_io_counters = false;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t last_io_mono_ns = 0;  // 0 = no I/O
  uint64_t counters_offset = 0;  // its first IoCounters record in its trace, which I/O updates in place
  int session = -1;  // the session that holds it (index into Model::sessions)
  // One kernel socket seen by several processes (fork copies, a socket
  // handed on by spawn) has one shared_id across them.
  int shared_id = -1;
  bool shared = false;  // copied into a fork child or handed on by spawn
  // This process did something with it: made it, or (a copy it inherited or
  // received) did I/O, connected, listened, accepted, shut down, dup'ed it,
  // gave it to a session. A copy never used is not where the socket leaked.
  bool used = false;
  int held_on_by = -1;  // kHeldElsewhere: the process whose reference outlived this one
  std::vector<int> shared_with;  // a leaked copy: the other processes that held the socket
  int site = -1;  // the creation site it is counted in (Model::sites), -1: none (inherited)
};

// A session: a libcurl handle, an OpenSSL SSL or SSL_CTX, or an annotated one.
struct SessionLife {
  int process = -1;
  uint64_t handle = 0;
  std::string api;  // its JSON name (connleak/session_apis.h), or "user:<kind>"
  StackRef stack;   // where it was created
  int parent = -1;  // made inside another session's call (libcurl's own SSL_CTX)
  uint64_t created_mono_ns = 0;
  bool ended = false;  // invalidated (cleanup, free, connleak_session_end)
  uint64_t end_mono_ns = 0;
  int references = 1;  // SSL_CTX: up_ref adds one, free takes one
  uint64_t completed_transfers = 0;
  uint64_t last_transfer_mono_ns = 0;
  uint64_t connections_opened = 0;  // connects by sockets it (or a session inside it) held
  bool alive_at_end = false;  // still live when its process ended
  // A fork child's copy of its parent's session: the parent's object, not
  // one the child created.
  bool inherited = false;
  int shared_id = -1;  // the original's index, for it and all its fork copies
  // Alive at its process's end while a copy in another process lived on
  // longer: that one is the last holder, not this.
  bool held_elsewhere = false;
  // Rebuilt from a checkpoint: created in the summarized history, so
  // counted in Model::sessions_summarized, not again.
  bool from_checkpoint = false;
  int site = -1;  // the creation site it is counted in (Model::sites), -1: none
};

// One creation site of one process (a socket() or accept() stack, or a
// session constructor's): how many objects it opened and closed so far, over
// time. Growth is judged from these, also after the objects' own slots were
// reused. Points are cumulative totals, at most one per second of trace time,
// so a site costs memory by the seconds it was busy, not by its objects.
struct SitePoint {
  uint64_t mono_ns = 0;
  uint64_t opened = 0;
  uint64_t closed = 0;
};

struct SiteHistory {
  int process = -1;
  StackRef stack;
  bool sessions = false;  // counts sessions (of `api`), not sockets
  std::string api;
  std::vector<SitePoint> points;

  uint64_t opened() const { return points.empty() ? 0 : points.back().opened; }
  uint64_t closed() const { return points.empty() ? 0 : points.back().closed; }
  // Adds to the totals as of `mono_ns`.
  void record(uint64_t mono_ns, uint64_t opened, uint64_t closed);
  // The open count (opened - closed) as of `mono_ns`.
  int64_t open_at(uint64_t mono_ns) const;
};

// A socket that survived exec (or posix_spawn) into another image.
struct Handover {
  int from_socket = -1;  // in the image that created it
  int to_socket = -1;    // the same socket, inherited at the new image's start
};

// close() of a socket fd that was already closed.
struct BadCloseEvent {
  int process = -1;
  int fd = -1;
  uint64_t mono_ns = 0;
  StackRef stack;
  int previous_socket = -1;  // the socket that fd last held, if known
};

// A child reaped by a traced parent, as the wait family saw it.
// A fork whose child inherited nothing traced (trace::kFlagLazyChild): the
// child may have left no trace, only its exec'd images (by pid, after `at`).
struct LazyFork {
  int parent = -1;  // process index
  int child_pid = 0;
  uint64_t at = 0;  // the fork, CLOCK_MONOTONIC
};

struct ReapedChild {
  int reaper = -1;  // process index
  int pid = 0;
  int wait_status = 0;
  uint64_t mono_ns = 0;
};

struct ModelOptions {
  // Keep every closed socket (Model::closed) for the timeline, up to
  // `max_closed`; without it memory grows with live sockets only.
  bool keep_closed = false;
  size_t max_closed = 200'000;
};

struct Model {
  ModelOptions options;
  std::vector<ProcessLife> processes;
  // Sockets still open, or referred to; a closed socket's slot is reused,
  // so memory grows with live sockets, not with the length of the trace.
  std::vector<SocketLife> sockets;
  std::vector<int> free_sockets;
  // With ModelOptions::keep_closed: the sockets a program used, as they were
  // when their slot was reused, and how many more were not kept.
  std::vector<SocketLife> closed;
  size_t closed_not_kept = 0;
  size_t sockets_opened = 0;  // all the programs created (not inherited)
  size_t sessions_summarized = 0;  // created in history a checkpoint summarized
  int shared_ids = 0;         // SocketLife::shared_id handed out so far
  // Shared sockets (SocketLife::shared): every reference that ended, by
  // shared_id; a closed copy's slot is reused, so who held a socket last is
  // decided from these.
  struct Release {
    int process = -1;
    uint64_t at = 0;
    bool used = false;      // SocketLife::used of the copy
    uint64_t last_io = 0;   // its last I/O, 0 = none
  };
  std::map<int, std::vector<Release>> shared_releases;
  // Sockets passed with SCM_RIGHTS: the shared_ids of both ends, by inode.
  std::map<uint64_t, std::vector<int>> ids_by_inode;
  std::vector<SessionLife> sessions;
  std::vector<SiteHistory> sites;
  std::vector<Handover> handovers;
  std::vector<BadCloseEvent> bad_closes;
  std::vector<ReapedChild> reaped;
  std::vector<LazyFork> lazy_forks;
  std::vector<std::string> warnings;

  // The frames of a stack, innermost first; empty when unknown.
  const std::vector<uint64_t>* stack(const StackRef& ref) const;
  // The modules visible to a process (its own, then its fork ancestors').
  std::vector<ModuleInfo> modules_of(int process) const;
  // The outermost session above `session` (itself when it has no parent);
  // -1 for -1.
  int root_session(int session) const {
    while (session >= 0 && sessions[size_t(session)].parent >= 0) session = sessions[size_t(session)].parent;
    return session;
  }
  // Identifies a stack across processes: module and offset per frame,
  // which ASLR does not change.
  std::string stack_key(const StackRef& ref) const;
};

// Replays the traces into a model. Throws TraceError for unreadable traces.
Model build_model(std::vector<TraceFile>& traces, const ModelOptions& options = {});

// "127.0.0.1:8080", "[::1]:443", "/run/x.sock", "@abstract", "" when unknown.
std::string format_address(const std::string& raw_sockaddr);
std::string family_name(int domain);
std::string protocol_name(int domain, int type, int protocol);

}  // namespace connleak
