// The tracking logic behind the interposed functions, as a plain C++ API so
// unit tests can drive it without LD_PRELOAD. The hooks (hooks_*.cpp) call
// the real function, then tell the Tracker what happened; the Tracker keeps
// the per-fd table and appends records to the trace.
//
// Rules for everything here: no exceptions, no heap allocation, no locks.
// close() and the exit path may run inside signal handlers.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>

#include "clock.h"
#include "config.h"
#include "connleak/trace_format.h"
#include "fd_table.h"
#include "module_map.h"
#include "session_table.h"
#include "site_table.h"
#include "stack_table.h"
#include "trace_writer.h"

namespace connleak::shim {

class Tracker {
 public:
  // Starts tracing this process image: creates its trace file and records the
  // command line and loaded modules. False when tracing is off or failed.
  bool start(const Config& config);
  bool active() const { return active_.load(std::memory_order_acquire); }
  const char* trace_name() const { return writer_.file_name(); }

  // origin: 0, trace::kFlagSocketPair or trace::kFlagReceived.
  void on_socket(int fd, int domain, int type, int protocol, uint8_t origin = 0);
  // Both ends of a socketpair(), with one stack.
  void on_socketpair(const int fds[2], int domain, int type, int protocol);
  void on_connect(int fd, const sockaddr* peer, socklen_t len, int error);
  void on_accept(int fd, int listen_fd, const sockaddr* peer, socklen_t len, int flags);
  void on_bind(int fd, const sockaddr* local, socklen_t len, int error);
  void on_listen(int fd, int backlog);
  void on_shutdown(int fd, int how);

  // n bytes sent or received on fd. The hot path of every read and write on
  // a tracked socket.
  void on_io(int fd, ssize_t n, bool sent) {
    if (n <= 0) return;
    FdSlot* slot = fds_.tracked(fd);
    if (!slot) return;
    trace::IoCounters* counters = slot->counters.load(std::memory_order_acquire);
    if (__builtin_expect(!counters, 0) && !(counters = first_counters(slot, fd))) return;
    // A plain load and store, not a locked add: two threads doing I/O on
    // one socket at the same instant may lose a count, which statistics
    // can bear better than every read and write paying for a lock.
    uint64_t* total = sent ? &counters->bytes_sent : &counters->bytes_received;
    __atomic_store_n(total, __atomic_load_n(total, __ATOMIC_RELAXED) + uint64_t(n), __ATOMIC_RELAXED);
    stamp_io(slot, counters);
  }
  // Sockets that arrived with SCM_RIGHTS in a received message.
  void on_received_fds(const msghdr* message, int recv_flags);
  // Sockets a sent message passed on (SCM_RIGHTS).
  void on_sent_fds(const msghdr* message);

  // A close is recorded in two steps around the real call: the record's
  // place in the trace is taken before the fd number is released, so a
  // socket that another thread gets with the same number is ordered after.
  struct CloseTicket {
    trace::Close* record = nullptr;  // a tracked socket's close
    bool closed_socket = false;      // the fd was a socket closed before
  };
  CloseTicket begin_close(int fd, bool via_fclose);
  void end_close(const CloseTicket& ticket, int fd, int result, int error);
  void on_close_range(unsigned first, unsigned last, int flags, int error);
  void on_dup(int old_fd, int new_fd, trace::DupVia via, bool cloexec);
  void on_set_cloexec(int fd, bool cloexec);
  bool is_tracked(int fd) const { return fds_.is_tracked(fd); }
  // Nothing to record at fd (most closes: files, pipes).
  bool nothing_at(int fd) const { return fds_.holds_nothing(fd); }

  // Sessions (libcurl, OpenSSL, connleak.h annotations).
  void on_session_begin(const void* handle, trace::SessionApi api, const char* kind = nullptr);
  void on_session_event(const void* handle, trace::SessionApi api, trace::SessionEventType type,
                        const void* other = nullptr);
  // `fd` belongs to the session at `handle` (SSL_set_fd).
  void on_socket_owner(int fd, const void* handle, trace::SessionApi api);

  // fork() handlers (pthread_atfork, so glibc-internal forks count too).
  void before_fork();
  void after_fork_in_child();
  void after_fork_in_parent();
  // A fork child that inherited nothing traced waits for its first event to
  // make its trace (trace::kFlagLazyChild): a shell's children mostly exec at
  // once, and a trace each would cost them more than the rest of tracing.
  bool waiting_child() const { return child_trace_.load(std::memory_order_acquire) == kChildWaiting; }
  // Its first event: makes the trace now; whether tracing.
  bool start_waiting_child();
  // Before exec or posix_spawn: notes the sockets the next image may inherit.
  void before_handing_over();
  void on_exec(const char* path);
  void on_exec_failed(int error);
  void on_spawn(const char* path, pid_t child, int error);
  // A child reaped by the wait family, with its wait status.
  void on_child_exit(pid_t child, int wait_status);
  // Before setuid() and its relatives: the process may lose the right to
  // reopen its trace (a root server's workers turning into nobody), so the
  // trace takes the room it may need now (kRoomBeforeNewUser); past it,
  // events are counted as lost.
  void before_user_change() {
    if (active()) writer_.grow_ahead(kRoomBeforeNewUser);
  }
  static constexpr uint64_t kRoomBeforeNewUser = 4 << 20;
  // A library was unloaded (dlclose).
  void on_dlclose();
  // The program is about to start a thread or install a signal handler:
  // from then on libunwind may not be loadable when a stack is first
  // needed, so it is loaded now (stack_table.h).
  void prepare_stacks() { stacks_.prepare(); }
  bool stacks_prepared() const { return stacks_.prepared(); }
  // Records the sockets still open and the end of the process; idempotent.
  void on_exit(int status, trace::EndVia via);

  // Counts an event the shim saw but could not record.
  void count_lost(trace::LostReason reason);

  // Bounded traces (checkpoint.cpp): moves the trace on to its next
  // segment, with a checkpoint at its head. Runs with the fork gate closed.
  bool rotate();

  // One checkpoint being written (checkpoint.h).
  struct Checkpoint;

 private:
  bool write_checkpoint(Checkpoint& c, uint32_t flags);
  void carry_process(Checkpoint& c);
  void carry_sites(Checkpoint& c, uint64_t ts);
  void carry_sessions(Checkpoint& c);
  void carry_sockets(Checkpoint& c);
  // A bounded fork child's first records: what it inherited, from the
  // parent's mapping, for when the parent's Fork record is gone.
  void write_fork_checkpoint(const TraceWriter::Detached& parent);
  // Notes a record's place for checkpoints (FdSlot::records).
  void note_record(int fd, SocketRecord kind, const void* record) {
    if (FdSlot* slot = fds_.tracked(fd)) slot->records[kind] = writer_.ref_of(record);
  }
  void count_connection_of_owner(FdSlot* slot);
  void update_session(const void* handle, trace::SessionEventType type, const void* other, uint64_t ts);
  bool open_trace(trace::Origin origin, uint64_t fork_offset, const char* parent_trace,
                  uint64_t started_mono_ns = 0, uint64_t started_real_ns = 0, uint32_t header_flags = 0);
  // `waited_in`: the parent's Fork record of a waiting child, told of a failure.
  bool make_child_trace(uint64_t fork_offset, const char* parent_trace, trace::Fork* waited_in,
                        uint64_t started_mono_ns, uint64_t started_real_ns, uint32_t header_flags);
  void make_waiting_child_trace();
  void write_process_info();
  void record_inherited_fds();
  void record_fds_at_fork();
  void record_inherited_fd(int fd);
  void write_socket_open(int fd, int domain, int type, int protocol, uint8_t flags, uint32_t stack_id);
  void write_bind(int fd, const sockaddr* local, socklen_t len, int error);
  void record_kernel_local_address(int fd);
  // Sets the time of the last I/O. The clock read after a system call costs
  // more than the rest of the hook (its code and data are cold: ~20 ns), so
  // I/O through one fd in quick succession reads it once per
  // kStampReuseCycles; a call that blocked longer than that reads it again.
  static void stamp_io(FdSlot* slot, trace::IoCounters* counters) {
    uint64_t cycles = cycle_count();
    if (kHaveCycleCounter && slot->clock_read_cycles && cycles - slot->clock_read_cycles < kStampReuseCycles) return;
    slot->clock_read_cycles = cycles;
    __atomic_store_n(&counters->last_io_ns, coarse_now_ns(), __ATOMIC_RELAXED);
  }
  // The socket's counters record, made at its first I/O.
  trace::IoCounters* first_counters(FdSlot* slot, int fd);
  // A new counters record for fd holding `from`'s values (a fork child's).
  trace::IoCounters* copy_counters(int fd, const trace::IoCounters* from);
  void move_counters_into_child_trace();
  void track_received_socket(int fd, bool cloexec, uint32_t stack_id, uint64_t inode);
  void write_socket_inode(int fd, uint64_t inode);
  void on_connected(int fd, const sockaddr* peer, socklen_t len, int error, uint32_t stack_id);
  // A new socket made inside a session's call belongs to that session.
  void note_owner_of_new_socket(int fd);
  void write_open_sockets_at_exit(uint64_t ts);
  void write_lost_counts();
  uint32_t capture_stack() { return stacks_.capture(writer_, modules_); }

  // What every hook reads comes first, in as few cache lines as the types
  // allow: hooks run right after a system call, whose kernel work has
  // evicted much of the process's cache.
  std::atomic<bool> active_{false};
  std::atomic<bool> ended_{false};
  int pid_ = 0;
  StackTable stacks_;
  TraceWriter writer_;  // its hot fields first, its file names last
  FdTable fds_;         // max_fd_ and the first pages' pointers first
  Config config_;
  ModuleMap modules_;
  SiteTable sites_;
  SessionTable sessions_;
  std::atomic<uint64_t> lost_[5] = {};
  TraceWriter::Ref process_info_ref_ = 0;
  // The last checkpoint's SiteCounters records (consecutive) in the
  // current segment, and its time: the next one extends their history.
  TraceWriter::Ref last_sites_ref_ = 0;
  uint32_t last_sites_count_ = 0;
  uint64_t last_checkpoint_ts_ = 0;
  // A waiting fork child (waiting_child()): decided before the fork, so
  // parent and child agree; the parent's Fork record and its mapping, kept
  // until the child's trace is made.
  enum ChildTrace : int { kChildTraceMade, kChildWaiting, kChildMaking };
  std::atomic<int> child_trace_{kChildTraceMade};
  bool next_child_may_wait_ = false;
  trace::Fork* waiting_fork_ = nullptr;
  uint64_t fork_mono_ns_ = 0;
  uint64_t fork_real_ns_ = 0;
};

// The process-wide tracker behind the hooks: constant-initialised, so it is
// usable from the first interposed call, before any constructor has run.
extern constinit Tracker g_tracker;
inline Tracker& tracker() { return g_tracker; }

}  // namespace connleak::shim
