// The Tracker's view of the process's life: start-up (including the fds it
// inherited), fork, exec, posix_spawn, reaped children, and the exit.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "errno_keeper.h"
#include "fork_gate.h"
#include "loaded_objects.h"
#include "real_functions.h"
#include "record_helpers.h"
#include "shim_log.h"
#include "tracker.h"
#include "user_memory.h"

namespace connleak::shim {
namespace {

// The Fork record reserved by this thread before fork() (see before_fork).
__attribute__((tls_model("initial-exec"))) thread_local trace::Fork* t_pending_fork = nullptr;

// Reads a small /proc file into `buffer`; returns the bytes read.
size_t read_proc_file(const char* path, char* buffer, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t total = 0;
  while (total < size) {
    ssize_t n = real::read()(fd, buffer + total, size - total);
    if (n <= 0) break;
    total += size_t(n);
  }
  real::close()(fd);
  return total;
}

// The executable as the user ran it: the path given to execve (AT_EXECFN),
// made absolute, where it names the running file; so `redis-server`, not
// the `redis-check-rdb` its symlink points to. Otherwise (a script, whose
// path names the script and not its interpreter) /proc/self/exe.
ssize_t executable_as_run(char* out, size_t size) {
  ssize_t real_len = readlink("/proc/self/exe", out, size - 1);
  if (real_len < 0) real_len = 0;
  out[real_len] = '\0';
  auto* given = reinterpret_cast<const char*>(getauxval(AT_EXECFN));
  struct stat as_run, running;
  if (!given || stat(given, &as_run) != 0 || stat("/proc/self/exe", &running) != 0 ||
      as_run.st_dev != running.st_dev || as_run.st_ino != running.st_ino) {
    return real_len;
  }
  size_t used = 0;
  if (given[0] != '/') {
    if (!getcwd(out, size)) return real_len;
    used = strlen(out);
    if (used + 1 < size && (used == 0 || out[used - 1] != '/')) out[used++] = '/';
    while (given[0] == '.' && given[1] == '/') given += 2;  // "./redis-server"
  }
  size_t len = strnlen(given, size);
  if (used + len >= size) return readlink("/proc/self/exe", out, size);
  memcpy(out + used, given, len);
  return ssize_t(used + len);
}

bool fd_cloexec(int fd) {
  int flags = real::fcntl()(fd, F_GETFD, nullptr);
  return flags > 0 && (flags & FD_CLOEXEC);
}

uint8_t tcp_state_of(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return info.tcpi_state;
}

// Calls `visit(fd)` for every fd open now, from /proc/self/fd, without
// allocating (getdents64 into a stack buffer).
template <class Visit>
void for_each_open_fd(Visit&& visit) {
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  alignas(8) char buffer[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, dir, buffer, sizeof(buffer));
    if (n <= 0) break;
    for (long offset = 0; offset < n;) {
      auto* entry = reinterpret_cast<dirent64*>(buffer + offset);
      offset += entry->d_reclen;
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
      int fd = atoi(entry->d_name);
      if (fd != dir) visit(fd);
    }
  }
  real::close()(dir);
}

}  // namespace

bool Tracker::start(const Config& config) {
  config_ = config;
  if (config_.disabled) return false;
  uintptr_t low = 0, high = 0;
  ModuleMap::range_of(reinterpret_cast<const void*>(&tracker), &low, &high);
  stacks_.configure(config_.stack_depth, low, high);
  stacks_.set_sites(&sites_);
  fork_gate::set_rotation_handler([] { return tracker().rotate(); });
  if (!open_trace(trace::Origin::kStarted, 0, "")) return false;
  writer_.trim_previous_image(pid_);
  modules_.scan(writer_);
  record_inherited_fds();
  active_.store(true, std::memory_order_release);
  return true;
}

bool Tracker::open_trace(trace::Origin origin, uint64_t fork_offset, const char* parent_trace,
                         uint64_t started_mono_ns, uint64_t started_real_ns, uint32_t header_flags) {
  // A fork child's parent is the process it was forked from (pid_ still
  // holds that pid here), even if that one has exited by now and getppid()
  // already names a subreaper (a daemon's parent exits right after forking).
  int parent = origin == trace::Origin::kForked ? pid_ : getppid();
  pid_ = getpid();
  trace::FileHeader header{};
  memcpy(header.magic, trace::kMagic, sizeof(header.magic));
  header.version = trace::kFormatVersion;
  header.min_reader_version = trace::kMinReaderVersion;
  header.endian_marker = trace::kEndianMarker;
  header.header_size = sizeof(header);
  header.origin = uint32_t(origin);
  header.pid = pid_;
  header.ppid = parent;
  header.start_mono_ns = started_mono_ns ? started_mono_ns : now_ns(CLOCK_MONOTONIC);
  header.start_real_ns = started_real_ns ? started_real_ns : now_ns(CLOCK_REALTIME);
  header.parent_fork_offset = fork_offset;
  strncpy(header.parent_trace, parent_trace, sizeof(header.parent_trace) - 1);
  header.stack_depth = uint32_t(config_.stack_depth);
  header.header_flags = header_flags;
  if (!writer_.create(config_.output_dir, pid_, header, config_.max_trace_size)) return false;
  write_process_info();
  return true;
}

void Tracker::write_process_info() {
  // Static: one start at a time (start-up, or a fork child), and the stack
  // may be a small signal stack.
  static char exe[1024];
  static char args[16384];
  ssize_t exe_len = executable_as_run(exe, sizeof(exe));
  size_t args_len = read_proc_file("/proc/self/cmdline", args, sizeof(args));
  auto* record = writer_.reserve<trace::ProcessInfo>(size_t(exe_len) + args_len);
  if (!record) return;
  record->exe_len = uint32_t(exe_len);
  record->args_len = uint32_t(args_len);
  auto* bytes = reinterpret_cast<char*>(record + 1);
  memcpy(bytes, exe, size_t(exe_len));
  memcpy(bytes + exe_len, args, args_len);
  writer_.publish(record, trace::RecordType::kProcessInfo);
  process_info_ref_ = writer_.ref_of(record);
}

void Tracker::before_fork() {
  if (waiting_child()) start_waiting_child();  // a grandchild names this child's trace
  if (!active()) return;
  fork_gate::before_fork();
  bool holds_sockets = fds_.mark_all_shared();  // no fd call runs now: the table is still
  note_fork_prepare();
  stacks_.before_fork();
  // Nothing a child would hold of its parent's: it may wait (waiting_child).
  // (A bounded trace's waiting child copies its parent's records at its
  // first event: records published before the fork, which the parent's
  // rotations and trims leave in place, its mappings still reach.)
  // A relative output directory names another one after a chdir: such a
  // child makes its trace at the fork.
  next_child_may_wait_ = !holds_sockets && sessions_.empty() && config_.output_dir[0] == '/';
  t_pending_fork = writer_.reserve<trace::Fork>();
  if (!t_pending_fork) return;
  t_pending_fork->ts = now_ns();
  // Stored before the fork: after it, `error` is the child's to set.
  t_pending_fork->child_pid = 0;
  t_pending_fork->error = 0;
  if (next_child_may_wait_) t_pending_fork->h.flags = trace::kFlagLazyChild;
}

void Tracker::after_fork_in_parent() {
  if (!active()) return;
  stacks_.after_fork_in_parent();
  fork_gate::after_fork_in_parent();
  trace::Fork* record = t_pending_fork;
  t_pending_fork = nullptr;
  // The fork handlers do not learn the child's pid; the child's trace names
  // this record instead (FileHeader::parent_fork_offset).
  if (record) writer_.publish(record, trace::RecordType::kFork);
}

void Tracker::after_fork_in_child() {
  note_fork_child();
  stacks_.after_fork_in_child();
  fork_gate::after_fork_in_child();
  trace::Fork* record = t_pending_fork;
  t_pending_fork = nullptr;
  for (auto& lost : lost_) lost.store(0, std::memory_order_relaxed);
  ended_.store(false, std::memory_order_relaxed);
  if (record && next_child_may_wait_ && !fork_gate::child_must_list_fds()) {
    // Nothing is written until the first event; the parent's mapping stays
    // until then, untouched but for this record's child_pid (now) and error
    // (if making the trace fails).
    waiting_fork_ = record;
    __atomic_store_n(&record->child_pid, int32_t(getpid()), __ATOMIC_RELAXED);  // for the process tree
    fork_mono_ns_ = now_ns(CLOCK_MONOTONIC);
    fork_real_ns_ = now_ns(CLOCK_REALTIME);
    active_.store(false, std::memory_order_release);
    child_trace_.store(kChildWaiting, std::memory_order_release);
    return;
  }
  char parent_trace[trace::kTraceNameMax];
  memcpy(parent_trace, writer_.file_name(), sizeof(parent_trace));
  // The parent said this child may leave no trace; it makes one now after
  // all (it must list its fds), so its record is an ordinary fork's.
  if (record && next_child_may_wait_) __atomic_and_fetch(&record->h.flags, uint8_t(~trace::kFlagLazyChild), __ATOMIC_RELAXED);
  make_child_trace(record ? writer_.offset_of(record) : 0, parent_trace, nullptr, 0, 0, 0);
}

// The child starts a trace of its own. It inherits the parent's fd table
// (its sockets are the child's too), stack ids and module list: the analyzer
// resolves those through the parent's trace, from the Fork record on.
bool Tracker::make_child_trace(uint64_t fork_offset, const char* parent_trace, trace::Fork* waited_in,
                               uint64_t started_mono_ns, uint64_t started_real_ns, uint32_t header_flags) {
  // The parent's mapping stays until the inherited sockets' I/O counters
  // have moved into the child's trace.
  ErrnoKeeper keep;
  TraceWriter::Detached parent = writer_.detach();
  errno = 0;
  if (!open_trace(trace::Origin::kForked, fork_offset, parent_trace, started_mono_ns, started_real_ns, header_flags)) {
    // A child its parent said may leave no trace says so where the
    // analyzer looks: its parent's Fork record, through the mapping it still
    // shares, unless the parent's bounded trace dropped that segment since
    // (truncated: the page is gone, and the record with it).
    if (waited_in && readable(&waited_in->error, sizeof(waited_in->error)))
      __atomic_store_n(&waited_in->error, errno ? errno : EIO, __ATOMIC_RELAXED);
    active_.store(false, std::memory_order_release);
    TraceWriter::release(parent);
    return false;
  }
  // What the child holds is its parent's: not counted at the child's sites.
  sites_.reset_counts();
  sessions_.forget_sites();
  fds_.for_each_tracked([](int, FdSlot& slot) {
    slot.site = kNoSite;
    slot.flags.fetch_or(FdTable::kForkCopy, std::memory_order_relaxed);
  });
  last_sites_ref_ = 0;
  last_sites_count_ = 0;
  if (writer_.bounded()) write_fork_checkpoint(parent);
  if (fork_gate::child_must_list_fds()) record_fds_at_fork();
  move_counters_into_child_trace();
  TraceWriter::release(parent);
  active_.store(true, std::memory_order_release);
  return true;
}

// One thread makes it; another that has an event meanwhile waits (a thread
// not started through libc: pthread_create makes it first), a signal
// handler that interrupted the making goes without.
bool Tracker::start_waiting_child() {
  static __attribute__((tls_model("initial-exec"))) thread_local bool making = false;
  int state = kChildWaiting;
  if (!making && child_trace_.compare_exchange_strong(state, kChildMaking, std::memory_order_acq_rel)) {
    making = true;
    make_waiting_child_trace();
    making = false;
    child_trace_.store(kChildTraceMade, std::memory_order_release);
    return active();
  }
  for (int round = 0; round < 500 && !making && state == kChildMaking; ++round) {
    timespec pause{0, 100 * 1000};
    nanosleep(&pause, nullptr);
    state = child_trace_.load(std::memory_order_acquire);
  }
  return active();
}

void Tracker::make_waiting_child_trace() {
  char parent_trace[trace::kTraceNameMax];
  memcpy(parent_trace, writer_.file_name(), sizeof(parent_trace));
  trace::Fork* record = waiting_fork_;
  waiting_fork_ = nullptr;
  // A bounded parent may have dropped the segment the child's inherited
  // references point into (its first segment is cut to its header then):
  // the child copies nothing of its parent's, and records its own modules
  // and stacks instead.
  if (writer_.bounded()) {
    modules_.forget();
    sites_.forget_stacks();
    stacks_.forget_written();
  }
  if (make_child_trace(writer_.offset_of(record), parent_trace, record, fork_mono_ns_, fork_real_ns_,
                       trace::kHeaderEmptyFork) &&
      writer_.bounded()) {
    modules_.scan(writer_);
  }
}

// The fork could not be exact (fork_gate.h): the sockets this child really
// holds, from the kernel, and the fd table made to agree with them.
void Tracker::record_fds_at_fork() {
  constexpr int kMax = 4096;
  static int32_t sockets[kMax];  // one fork child at a time starts here
  uint32_t count = 0;
  bool all = true;
  for_each_open_fd([&](int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return;
    if (count == kMax) {
      all = false;
      return;
    }
    sockets[count++] = fd;
  });
  if (!all) return;  // the Fork record's state stands
  for (uint32_t i = 0; i < count; ++i)
    if (!fds_.is_tracked(sockets[i])) fds_.track(sockets[i], fd_cloexec(sockets[i]), nullptr, /*shared=*/true);
  for (int fd = 0; fd <= fds_.max_fd(); ++fd) {
    if (!fds_.is_tracked(fd)) continue;
    bool listed = false;
    for (uint32_t i = 0; i < count && !listed; ++i) listed = sockets[i] == fd;
    if (!listed) fds_.untrack(fd);
  }
  auto* record = writer_.reserve<trace::ForkFds>(sizeof(int32_t) * count);
  if (!record) return;
  record->count = count;
  memcpy(record + 1, sockets, sizeof(int32_t) * count);
  writer_.publish(record, trace::RecordType::kForkFds);
}

// Each inherited socket that had done I/O gets a counters record in the
// child's trace, starting from the parent's values; dups that shared one
// record share the new one too.
void Tracker::move_counters_into_child_trace() {
  constexpr int kRemembered = 64;
  trace::IoCounters* from[kRemembered];
  trace::IoCounters* to[kRemembered];
  int remembered = 0;
  for (int fd = 0; fd <= fds_.max_fd(); ++fd) {
    FdSlot* slot = fds_.tracked(fd);
    trace::IoCounters* old = slot ? slot->counters.load(std::memory_order_relaxed) : nullptr;
    if (!old) continue;
    trace::IoCounters* moved = nullptr;
    for (int i = 0; i < remembered && !moved; ++i) moved = from[i] == old ? to[i] : nullptr;
    if (!moved) {
      moved = copy_counters(fd, old);
      if (remembered < kRemembered) from[remembered] = old, to[remembered++] = moved;
    }
    slot->counters.store(moved, std::memory_order_relaxed);
  }
}

void Tracker::on_exec(const char* path) {
  size_t len = path ? strnlen(path, 4096) : 0;
  auto* record = writer_.reserve<trace::Exec>(len);
  if (!record) return;
  record->ts = now_ns();
  record->path_len = uint32_t(len);
  memcpy(record + 1, path, len);
  writer_.publish(record, trace::RecordType::kExec);
  writer_.mark_exec(true);
}

void Tracker::on_exec_failed(int error) {
  writer_.mark_exec(false);
  auto* record = writer_.reserve<trace::ExecFailed>();
  if (!record) return;
  record->ts = now_ns();
  record->error = error;
  writer_.publish(record, trace::RecordType::kExecFailed);
}

void Tracker::on_dlclose() {
  real::forget_library_functions();
  modules_.forget();
}

void Tracker::on_exit(int status, trace::EndVia via) {
  if (waiting_child() || ended_.exchange(true)) return;  // a waiting child has no trace to end
  // A vfork()ed child shares our memory and must not end the parent's trace.
  if (getpid() != pid_) return;
  uint64_t ts = now_ns();
  write_open_sockets_at_exit(ts);
  write_lost_counts();
  if (auto* record = writer_.reserve_final<trace::ProcessEnd>()) {
    record->ts = ts;
    record->exit_status = status;
    record->via = uint32_t(via);
    writer_.publish(record, trace::RecordType::kProcessEnd);
  }
  writer_.finish();
}

// Asks the kernel about every socket still believed open, so the analyzer
// can tell real leaks from sockets closed where the shim could not see.
void Tracker::write_open_sockets_at_exit(uint64_t ts) {
  int max_fd = fds_.max_fd();
  for (int fd = 0; fd <= max_fd; ++fd) {
    if (!fds_.is_tracked(fd)) continue;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) len = 0;
    // Room is kept for the lost counts and the end record after these.
    auto* record = writer_.reserve_final<trace::OpenAtExit>(len, sizeof(trace::Lost) * 5 + sizeof(trace::ProcessEnd));
    if (!record) {
      count_lost(trace::LostReason::kTraceFull);
      continue;
    }
    record->h.fd = fd;
    record->ts = ts;
    record->tcp_state = tcp_state_of(fd);
    copy_address(&record->local, reinterpret_cast<sockaddr*>(&local), len);
    writer_.publish(record, trace::RecordType::kOpenAtExit);
  }
}


// The fds this image started with are its parent's doing, not its leaks;
// sockets among them are recorded so the analyzer can tell, and link them
// to the image that passed them on.
void Tracker::record_inherited_fds() {
  for_each_open_fd([this](int fd) { record_inherited_fd(fd); });
}

void Tracker::record_inherited_fd(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return;
  bool cloexec = fd_cloexec(fd);
  sockaddr_storage local{}, peer{};
  socklen_t local_len = sizeof(local), peer_len = sizeof(peer);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) local_len = 0;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) peer_len = 0;
  size_t local_bytes = trace::align_record(address_bytes(reinterpret_cast<sockaddr*>(&local), local_len));
  auto* record =
      writer_.reserve_for<trace::InheritedFd>(fd, local_bytes + sizeof(trace::AddressTail) + peer_len);
  if (!record) return;
  record->h.flags = cloexec ? trace::kFlagCloexec : 0;
  record->ts = now_ns();
  record->inode = st.st_ino;
  record->domain = uint16_t(socket_option(fd, SO_DOMAIN));
  record->type = uint16_t(socket_option(fd, SO_TYPE));
  record->protocol = uint16_t(socket_option(fd, SO_PROTOCOL));
  copy_address(&record->local, reinterpret_cast<sockaddr*>(&local), local_len);
  auto* peer_tail = reinterpret_cast<trace::AddressTail*>(reinterpret_cast<char*>(record + 1) + local_bytes);
  copy_address(peer_tail, reinterpret_cast<sockaddr*>(&peer), peer_len);
  writer_.publish(record, trace::RecordType::kInheritedFd);
  fds_.track(fd, cloexec, nullptr, /*shared=*/true);  // the process that handed it on may hold it too
}

// Every tracked socket without close-on-exec may live on in the next image;
// its inode lets the analyzer recognise it there.
void Tracker::before_handing_over() {
  int max_fd = fds_.max_fd();
  for (int fd = 0; fd <= max_fd; ++fd) {
    FdSlot* slot = fds_.tracked(fd);
    if (!slot || (slot->flags.load(std::memory_order_relaxed) & FdTable::kCloexec)) continue;
    struct stat st;
    if (fstat(fd, &st) != 0) continue;
    auto* record = writer_.reserve_for<trace::PassOn>(fd);
    if (!record) return;
    record->inode = st.st_ino;
    writer_.publish(record, trace::RecordType::kPassOn);
  }
}

void Tracker::on_spawn(const char* path, pid_t child, int error) {
  size_t len = path ? strnlen(path, 4096) : 0;
  auto* record = writer_.reserve<trace::Spawn>(len);
  if (!record) return;
  record->ts = now_ns();
  record->child_pid = child;
  record->error = error;
  record->path_len = uint32_t(len);
  memcpy(record + 1, path, len);
  writer_.publish(record, trace::RecordType::kSpawn);
}

void Tracker::on_child_exit(pid_t child, int wait_status) {
  auto* record = writer_.reserve<trace::ChildExit>();
  if (!record) return;
  record->ts = now_ns();
  record->pid = child;
  record->wait_status = wait_status;
  writer_.publish(record, trace::RecordType::kChildExit);
}

}  // namespace connleak::shim
