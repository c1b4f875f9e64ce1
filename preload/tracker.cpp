#include "tracker.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "own_fds.h"
#include "real_functions.h"
#include "shim_log.h"

namespace connleak::shim {
namespace {

// The Fork record reserved by this thread before fork() (see before_fork).
__attribute__((tls_model("initial-exec"))) thread_local trace::Fork* t_pending_fork = nullptr;

void copy_address(trace::AddressTail* tail, const sockaddr* addr, socklen_t len) {
  if (!addr || len == 0) {
    tail->addr_len = 0;
    return;
  }
  size_t n = len < trace::kMaxSockaddr ? len : trace::kMaxSockaddr;
  tail->addr_len = uint16_t(n);
  memcpy(tail + 1, addr, n);
}

size_t address_bytes(const sockaddr* addr, socklen_t len) {
  if (!addr) return 0;
  return len < trace::kMaxSockaddr ? len : trace::kMaxSockaddr;
}

// Reads a small /proc file into `buffer`; returns the bytes read.
size_t read_proc_file(const char* path, char* buffer, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t total = 0;
  while (total < size) {
    ssize_t n = read(fd, buffer + total, size - total);
    if (n <= 0) break;
    total += size_t(n);
  }
  real::close()(fd);
  return total;
}

uint8_t tcp_state_of(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return info.tcpi_state;
}

}  // namespace

bool Tracker::start(const Config& config) {
  config_ = config;
  if (config_.disabled) return false;
  uintptr_t low = 0, high = 0;
  ModuleMap::range_of(reinterpret_cast<const void*>(&tracker), &low, &high);
  stacks_.configure(config_.stack_depth, low, high);
  if (!open_trace(trace::Origin::kStarted, 0, "")) return false;
  StackTable::warm_up();
  modules_.scan(writer_);
  active_.store(true, std::memory_order_release);
  return true;
}

bool Tracker::open_trace(trace::Origin origin, uint64_t fork_offset, const char* parent_trace) {
  pid_ = getpid();
  trace::FileHeader header{};
  memcpy(header.magic, trace::kMagic, sizeof(header.magic));
  header.version = trace::kFormatVersion;
  header.min_reader_version = trace::kMinReaderVersion;
  header.endian_marker = trace::kEndianMarker;
  header.header_size = sizeof(header);
  header.origin = uint32_t(origin);
  header.pid = pid_;
  header.ppid = getppid();
  header.start_mono_ns = now_ns(CLOCK_MONOTONIC);
  header.start_real_ns = now_ns(CLOCK_REALTIME);
  header.parent_fork_offset = fork_offset;
  strncpy(header.parent_trace, parent_trace, sizeof(header.parent_trace) - 1);
  header.stack_depth = uint32_t(config_.stack_depth);
  if (!writer_.create(config_.output_dir, pid_, header)) return false;
  write_process_info();
  return true;
}

void Tracker::write_process_info() {
  // Static: one start at a time (start-up, or a fork child), and the stack
  // may be a small signal stack.
  static char exe[1024];
  static char args[16384];
  ssize_t exe_len = readlink("/proc/self/exe", exe, sizeof(exe));
  if (exe_len < 0) exe_len = 0;
  size_t args_len = read_proc_file("/proc/self/cmdline", args, sizeof(args));
  auto* record = writer_.reserve<trace::ProcessInfo>(size_t(exe_len) + args_len);
  if (!record) return;
  record->exe_len = uint32_t(exe_len);
  record->args_len = uint32_t(args_len);
  auto* bytes = reinterpret_cast<char*>(record + 1);
  memcpy(bytes, exe, size_t(exe_len));
  memcpy(bytes + exe_len, args, args_len);
  writer_.publish(record, trace::RecordType::kProcessInfo);
}

void Tracker::on_socket(int fd, int domain, int type, int protocol, trace::OpenVia via) {
  bool cloexec = type & SOCK_CLOEXEC;
  if (!fds_.track(fd, cloexec)) return count_lost(trace::LostReason::kFdTooLarge);
  auto* record = writer_.reserve<trace::SocketOpen>();
  if (!record) return;
  record->ts = now_ns();
  record->fd = fd;
  record->stack_id = capture_stack();
  record->domain = uint16_t(domain);
  record->type = uint16_t(type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK));
  record->protocol = uint16_t(protocol);
  record->via = uint8_t(via);
  record->flags = uint8_t((cloexec ? trace::kFlagCloexec : 0) |
                          (type & SOCK_NONBLOCK ? trace::kFlagNonblock : 0));
  writer_.publish(record, trace::RecordType::kSocketOpen);
}

void Tracker::on_connect(int fd, const sockaddr* peer, socklen_t len, int error) {
  if (!fds_.is_tracked(fd)) return;
  auto* record = writer_.reserve<trace::Connect>(address_bytes(peer, len));
  if (!record) return;
  record->ts = now_ns();
  record->fd = fd;
  record->error = error;
  record->stack_id = capture_stack();
  copy_address(&record->peer, peer, len);
  writer_.publish(record, trace::RecordType::kConnect);
}

void Tracker::on_accept(int fd, int listen_fd, const sockaddr* peer, socklen_t len, int flags) {
  bool cloexec = flags & SOCK_CLOEXEC;
  if (!fds_.track(fd, cloexec)) return count_lost(trace::LostReason::kFdTooLarge);
  auto* record = writer_.reserve<trace::Accept>(address_bytes(peer, len));
  if (!record) return;
  record->ts = now_ns();
  record->fd = fd;
  record->listen_fd = listen_fd;
  record->stack_id = capture_stack();
  record->flags = uint16_t((cloexec ? trace::kFlagCloexec : 0) |
                           (flags & SOCK_NONBLOCK ? trace::kFlagNonblock : 0));
  copy_address(&record->peer, peer, len);
  writer_.publish(record, trace::RecordType::kAccept);
}

void Tracker::on_bind(int fd, const sockaddr* local, socklen_t len, int error) {
  if (!fds_.is_tracked(fd)) return;
  auto* record = writer_.reserve<trace::Bind>(address_bytes(local, len));
  if (!record) return;
  record->ts = now_ns();
  record->fd = fd;
  record->error = error;
  copy_address(&record->local, local, len);
  writer_.publish(record, trace::RecordType::kBind);
}

void Tracker::on_listen(int fd, int backlog) {
  if (!fds_.is_tracked(fd)) return;
  auto* record = writer_.reserve<trace::Listen>();
  if (!record) return;
  record->ts = now_ns();
  record->fd = fd;
  record->backlog = backlog;
  writer_.publish(record, trace::RecordType::kListen);
}

void Tracker::on_shutdown(int fd, int how) {
  if (!fds_.is_tracked(fd)) return;
  auto* record = writer_.reserve<trace::Shutdown>();
  if (!record) return;
  record->ts = now_ns();
  record->fd = fd;
  record->how = how;
  writer_.publish(record, trace::RecordType::kShutdown);
}

trace::Close* Tracker::begin_close(int fd, trace::CloseVia via) {
  if (!fds_.is_tracked(fd)) return nullptr;
  // Untrack before the kernel frees the number: a socket another thread
  // gets with it next is tracked after this.
  fds_.untrack(fd);
  auto* record = writer_.reserve<trace::Close>();
  if (!record) return nullptr;
  record->ts = now_ns();
  record->fd = fd;
  record->via = uint16_t(via);
  return record;
}

void Tracker::end_close(trace::Close* record, int error) {
  record->error = int16_t(error);
  writer_.publish(record, trace::RecordType::kClose);
}

void Tracker::on_close_range(unsigned first, unsigned last, int flags, int error) {
  int max_fd = fds_.max_fd();
  bool any = false;
  for (int fd = int(first); fd <= max_fd && unsigned(fd) <= last; ++fd) {
    if (!fds_.is_tracked(fd)) continue;
    any = true;
    if (error != 0) continue;
    if (flags & CLOSE_RANGE_CLOEXEC) {
      fds_.set_cloexec(fd, true);
    } else {
      fds_.untrack(fd);
    }
  }
  if (!any) return;
  auto* record = writer_.reserve<trace::CloseRange>();
  if (!record) return;
  record->ts = now_ns();
  record->first = first;
  record->last = last;
  record->flags = flags;
  record->error = error;
  writer_.publish(record, trace::RecordType::kCloseRange);
}

void Tracker::on_dup(int old_fd, int new_fd, trace::DupVia via, bool cloexec) {
  bool old_tracked = fds_.is_tracked(old_fd);
  // dup2/dup3 onto a tracked socket closes it, even when old_fd is no socket.
  if (!old_tracked && !fds_.is_tracked(new_fd)) return;
  if (old_tracked) {
    if (!fds_.track(new_fd, cloexec)) count_lost(trace::LostReason::kFdTooLarge);
  } else {
    fds_.untrack(new_fd);
  }
  auto* record = writer_.reserve<trace::Dup>();
  if (!record) return;
  record->ts = now_ns();
  record->old_fd = old_fd;
  record->new_fd = new_fd;
  record->via = uint16_t(via);
  record->flags = cloexec ? trace::kFlagCloexec : 0;
  writer_.publish(record, trace::RecordType::kDup);
}

void Tracker::on_set_cloexec(int fd, bool cloexec) {
  if (!fds_.is_tracked(fd)) return;
  fds_.set_cloexec(fd, cloexec);
  auto* record = writer_.reserve<trace::SetCloexec>();
  if (!record) return;
  record->ts = now_ns();
  record->fd = fd;
  record->cloexec = cloexec;
  writer_.publish(record, trace::RecordType::kSetCloexec);
}

void Tracker::before_fork() {
  if (!active()) return;
  t_pending_fork = writer_.reserve<trace::Fork>();
  if (t_pending_fork) t_pending_fork->ts = now_ns();
}

void Tracker::after_fork_in_parent() {
  trace::Fork* record = t_pending_fork;
  t_pending_fork = nullptr;
  if (!record) return;
  // The fork handlers do not learn the child's pid; the child's trace names
  // this record instead (FileHeader::parent_fork_offset).
  record->child_pid = 0;
  record->error = 0;
  writer_.publish(record, trace::RecordType::kFork);
}

void Tracker::after_fork_in_child() {
  // The child starts a trace of its own. It inherits the parent's fd table
  // (its sockets are the child's too), stack ids and module list: the
  // analyzer resolves those through the parent's trace, from the Fork record
  // on.
  trace::Fork* record = t_pending_fork;
  t_pending_fork = nullptr;
  uint64_t fork_offset = record ? writer_.offset_of(record) : 0;
  char parent_trace[trace::kTraceNameMax];
  memcpy(parent_trace, writer_.file_name(), sizeof(parent_trace));
  writer_.abandon();
  for (auto& lost : lost_) lost.store(0, std::memory_order_relaxed);
  ended_.store(false, std::memory_order_relaxed);
  if (!open_trace(trace::Origin::kForked, fork_offset, parent_trace)) {
    active_.store(false, std::memory_order_release);
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
}

void Tracker::on_exec_failed(int error) {
  auto* record = writer_.reserve<trace::ExecFailed>();
  if (!record) return;
  record->ts = now_ns();
  record->error = error;
  writer_.publish(record, trace::RecordType::kExecFailed);
}

void Tracker::on_dlopen() { modules_.scan(writer_); }

void Tracker::on_exit(int status, trace::EndVia via) {
  if (ended_.exchange(true)) return;
  // A vfork()ed child shares our memory and must not end the parent's trace.
  if (getpid() != pid_) return;
  uint64_t ts = now_ns();
  write_open_sockets_at_exit(ts);
  write_lost_counts();
  if (auto* record = writer_.reserve<trace::ProcessEnd>()) {
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
    auto* record = writer_.reserve<trace::OpenAtExit>(len);
    if (!record) return;
    record->ts = ts;
    record->fd = fd;
    record->tcp_state = tcp_state_of(fd);
    copy_address(&record->local, reinterpret_cast<sockaddr*>(&local), len);
    writer_.publish(record, trace::RecordType::kOpenAtExit);
  }
}

int Tracker::own_fds(int out[kMaxOwnFds]) const {
  int candidates[kMaxOwnFds] = {writer_.fd(), unwinder_fds_[0].load(), unwinder_fds_[1].load()};
  int n = 0;
  for (int fd : candidates) {
    if (fd < 0) continue;
    int i = n++;
    while (i > 0 && out[i - 1] > fd) {  // insertion sort: three elements
      out[i] = out[i - 1];
      --i;
    }
    out[i] = fd;
  }
  return n;
}

bool Tracker::owns_fd(int fd) const {
  return fd >= 0 && (fd == writer_.fd() || fd == unwinder_fds_[0].load(std::memory_order_relaxed) ||
                     fd == unwinder_fds_[1].load(std::memory_order_relaxed));
}

void Tracker::make_room_for(int fd) {
  if (fd >= 0 && fd == writer_.fd()) writer_.relocate_fd(fd + 1);
  // libunwind keeps its pipe's numbers: the program wins that number, and
  // the shim stops guarding it.
  for (auto& own : unwinder_fds_) {
    int expected = fd;
    own.compare_exchange_strong(expected, -1);
  }
}

void Tracker::adopt_unwinder_pipe(int fds[2]) {
  int floor = high_fd_floor();
  for (int i = 0; i < 2; ++i) {
    fds[i] = move_fd_high(fds[i], floor);
    unwinder_fds_[i].store(fds[i], std::memory_order_relaxed);
  }
}

void Tracker::count_lost(trace::LostReason reason) {
  lost_[uint32_t(reason)].fetch_add(1, std::memory_order_relaxed);
}

void Tracker::write_lost_counts() {
  uint64_t counts[4];
  for (int i = 0; i < 4; ++i) counts[i] = lost_[i].load(std::memory_order_relaxed);
  counts[uint32_t(trace::LostReason::kTraceFull)] += writer_.lost();
  for (uint32_t reason = 0; reason < 4; ++reason) {
    if (counts[reason] == 0) continue;
    auto* record = writer_.reserve<trace::Lost>();
    if (!record) return;
    record->count = counts[reason];
    record->reason = reason;
    writer_.publish(record, trace::RecordType::kLost);
  }
}

// Constant-initialised: usable from the first interposed call, before any
// constructor of this library has run, and never re-initialised after it.
constinit Tracker g_tracker;

Tracker& tracker() { return g_tracker; }

}  // namespace connleak::shim
