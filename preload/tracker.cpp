// The Tracker's socket and fd bookkeeping; process life (start, fork,
// exec, exit) is in tracker_process.cpp.
#include "tracker.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fork_gate.h"
#include "record_helpers.h"

namespace connleak::shim {

// The kernel gave out a number the shim still believed held: that socket
// was closed where the shim could not see, and counts as closed at its site.
static inline void retire_unseen(FdTable& fds, SiteTable& sites, int fd) {
  FdSlot* slot = fds.tracked(fd);
  if (__builtin_expect(slot != nullptr, 0) && slot->site != kNoSite) sites.socket_closed(slot->site);
}

void Tracker::on_socket(int fd, int domain, int type, int protocol, uint8_t origin) {
  bool cloexec = type & SOCK_CLOEXEC;
  retire_unseen(fds_, sites_, fd);
  if (!fds_.track(fd, cloexec)) return count_lost(trace::LostReason::kFdTooLarge);
  write_socket_open(fd, domain, type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK), protocol,
                    uint8_t(origin | (cloexec ? trace::kFlagCloexec : 0) |
                            (type & SOCK_NONBLOCK ? trace::kFlagNonblock : 0)),
                    capture_stack());
}

void Tracker::on_socketpair(const int fds[2], int domain, int type, int protocol) {
  bool cloexec = type & SOCK_CLOEXEC;
  uint8_t flags = uint8_t(trace::kFlagSocketPair | (cloexec ? trace::kFlagCloexec : 0) |
                          (type & SOCK_NONBLOCK ? trace::kFlagNonblock : 0));
  uint32_t stack_id = capture_stack();
  for (int i = 0; i < 2; ++i) {
    retire_unseen(fds_, sites_, fds[i]);
    if (!fds_.track(fds[i], cloexec)) {
      count_lost(trace::LostReason::kFdTooLarge);
      continue;
    }
    write_socket_open(fds[i], domain, type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK), protocol, flags, stack_id);
  }
}

void Tracker::write_socket_open(int fd, int domain, int type, int protocol, uint8_t flags, uint32_t stack_id) {
  auto* record = writer_.reserve_for<trace::SocketOpen>(fd);
  if (!record) return;
  record->h.flags = flags;
  record->ts = coarse_now_ns();
  record->stack_id = stack_id;
  record->domain = uint8_t(domain);
  record->type = uint8_t(type);
  record->protocol = uint16_t(protocol);
  writer_.publish(record, trace::RecordType::kSocketOpen);
  if (FdSlot* slot = fds_.tracked(fd)) {
    slot->records[kOpenRecord] = writer_.ref_of(record);
    slot->site = stack_id;
  }
  sites_.socket_opened(stack_id);
  note_owner_of_new_socket(fd);
}

// The first I/O on a socket gives it a counters record in the trace; a
// socket that never does I/O costs nothing here. Two threads racing on the
// first I/O each reserve one: the loser leaves its record unpublished (the
// reader skips it) and counts into the winner's.
trace::IoCounters* Tracker::first_counters(FdSlot* slot, int fd) {
  fork_gate::FdCall gate;  // a checkpoint moves every socket's counters
  trace::IoCounters* counters = nullptr;
  auto* fresh = writer_.reserve_for<trace::IoCounters>(fd);
  if (!fresh) return nullptr;
  if (!slot->counters.compare_exchange_strong(counters, fresh, std::memory_order_acq_rel)) return counters;
  writer_.publish(fresh, trace::RecordType::kIoCounters);
  return fresh;
}

trace::IoCounters* Tracker::copy_counters(int fd, const trace::IoCounters* from) {
  auto* counters = writer_.reserve_for<trace::IoCounters>(fd);
  if (!counters) return nullptr;
  counters->bytes_sent = __atomic_load_n(&from->bytes_sent, __ATOMIC_RELAXED);
  counters->bytes_received = __atomic_load_n(&from->bytes_received, __ATOMIC_RELAXED);
  counters->last_io_ns = 0;  // set by this process's own I/O: whether it used the socket
  counters->h.flags = trace::kFlagCarriedOver;
  writer_.publish(counters, trace::RecordType::kIoCounters);
  return counters;
}

void Tracker::on_connect(int fd, const sockaddr* peer, socklen_t len, int error) {
  if (!fds_.is_tracked(fd)) return;
  fork_gate::FdCall gate;  // what a checkpoint copies is recorded under the gate
  on_connected(fd, peer, len, error, capture_stack());
}

void Tracker::on_connected(int fd, const sockaddr* peer, socklen_t len, int error, uint32_t stack_id) {
  auto* record = writer_.reserve_for<trace::Connect>(fd, address_bytes(peer, len));
  if (!record) return;
  record->ts = now_ns();
  record->error = error;
  record->stack_id = stack_id;
  copy_address(&record->peer, peer, len);
  writer_.publish(record, trace::RecordType::kConnect);
  FdSlot* slot = fds_.tracked(fd);
  if (!slot) return;
  slot->records[kConnectRecord] = writer_.ref_of(record);
  if (error == 0 || error == EINPROGRESS || error == EALREADY || error == EISCONN) count_connection_of_owner(slot);
}

// A session's connections made (SessionState::connections): a connect of a
// socket it holds.
void Tracker::count_connection_of_owner(FdSlot* slot) {
  auto* owner = reinterpret_cast<const trace::SocketOwner*>(writer_.at(slot->records[kOwnerRecord]));
  if (!owner || owner->h.type != uint8_t(trace::RecordType::kSocketOwner)) return;
  if (SessionSlot* session = sessions_.find(owner->handle)) ++session->connections;
}

void Tracker::on_accept(int fd, int listen_fd, const sockaddr* peer, socklen_t len, int flags) {
  // A listener the shim never saw made (a raw system call): what the kernel
  // says of it, so the accepted socket gets its family and type.
  if (!fds_.is_tracked(listen_fd)) record_inherited_fd(listen_fd);
  bool cloexec = flags & SOCK_CLOEXEC;
  retire_unseen(fds_, sites_, fd);
  if (!fds_.track(fd, cloexec)) return count_lost(trace::LostReason::kFdTooLarge);
  auto* record = writer_.reserve_for<trace::Accept>(fd, address_bytes(peer, len));
  if (!record) return;
  record->h.flags = uint8_t((cloexec ? trace::kFlagCloexec : 0) | (flags & SOCK_NONBLOCK ? trace::kFlagNonblock : 0));
  record->ts = now_ns();
  record->listen_fd = listen_fd;
  record->stack_id = capture_stack();
  copy_address(&record->peer, peer, len);
  writer_.publish(record, trace::RecordType::kAccept);
  if (FdSlot* slot = fds_.tracked(fd)) {
    slot->records[kOpenRecord] = writer_.ref_of(record);
    slot->site = record->stack_id;
  }
  sites_.socket_opened(record->stack_id);
  note_owner_of_new_socket(fd);
  record_kernel_local_address(fd);  // not the listener's: 0.0.0.0 becomes the address it came in on
}

// The address the kernel gave the socket: the real port where the program
// asked for port 0, listened without bind, or accepted a connection.
void Tracker::record_kernel_local_address(int fd) {
  sockaddr_storage local{};
  socklen_t len = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return;
  write_bind(fd, reinterpret_cast<sockaddr*>(&local), len < sizeof(local) ? len : sizeof(local), 0);
}

void Tracker::on_bind(int fd, const sockaddr* local, socklen_t len, int error) {
  if (!fds_.is_tracked(fd)) return;
  fork_gate::FdCall gate;
  if (error == 0) return record_kernel_local_address(fd);
  write_bind(fd, local, len, error);
}

void Tracker::write_bind(int fd, const sockaddr* local, socklen_t len, int error) {
  auto* record = writer_.reserve_for<trace::Bind>(fd, address_bytes(local, len));
  if (!record) return;
  record->ts = now_ns();
  record->error = error;
  copy_address(&record->local, local, len);
  writer_.publish(record, trace::RecordType::kBind);
  if (error == 0) note_record(fd, kBindRecord, record);
}

void Tracker::on_listen(int fd, int backlog) {
  if (!fds_.is_tracked(fd)) return;
  fork_gate::FdCall gate;
  auto* record = writer_.reserve_for<trace::Listen>(fd);
  if (!record) return;
  record->ts = now_ns();
  record->backlog = backlog;
  writer_.publish(record, trace::RecordType::kListen);
  note_record(fd, kListenRecord, record);
  record_kernel_local_address(fd);  // listen() binds a socket that was not
}

void Tracker::on_shutdown(int fd, int how) {
  if (!fds_.is_tracked(fd)) return;
  fork_gate::FdCall gate;
  auto* record = writer_.reserve_for<trace::Shutdown>(fd);
  if (!record) return;
  record->ts = now_ns();
  record->how = how;
  writer_.publish(record, trace::RecordType::kShutdown);
  note_record(fd, kShutdownRecord, record);
}

Tracker::CloseTicket Tracker::begin_close(int fd, bool via_fclose) {
  CloseTicket ticket;
  // One look-up: this runs for every close() of every fd.
  FdSlot* slot = fds_.slot(fd);
  uint32_t flags = slot ? slot->flags.load(std::memory_order_acquire) : 0;
  if (!(flags & FdTable::kTracked)) {
    ticket.closed_socket = flags == FdTable::kClosedSocket;
    return ticket;
  }
  // Untrack before the kernel frees the number: a socket another thread
  // gets with it next is tracked after this.
  if (slot->site != kNoSite) sites_.socket_closed(slot->site);
  fds_.untrack(fd, /*closed=*/true);
  ticket.record = writer_.reserve_for<trace::Close>(fd);
  if (ticket.record) {
    // A socket other processes hold too gets the fine clock: which one let
    // go of it last is decided by these times (a coarse one can be a tick
    // early). The rest keep the cheap one (a hot path).
    ticket.record->ts = flags & FdTable::kShared ? now_ns() : coarse_now_ns();
    ticket.record->h.flags = via_fclose ? trace::kFlagFclose : 0;
  }
  return ticket;
}

void Tracker::end_close(const CloseTicket& ticket, int fd, int result, int error) {
  if (ticket.record) {
    if (result != 0) ticket.record->h.flags |= trace::kFlagFailed;
    writer_.publish(ticket.record, trace::RecordType::kClose);
    return;
  }
  if (result == 0) {
    fds_.forget_closed(fd);  // the number held something else by now
    return;
  }
  if (!ticket.closed_socket || error != EBADF) return;
  // A second close of a socket the shim saw closed: a double close.
  auto* record = writer_.reserve_for<trace::BadClose>(fd);
  if (!record) return;
  record->ts = now_ns();
  record->error = error;
  record->stack_id = capture_stack();
  writer_.publish(record, trace::RecordType::kBadClose);
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
      retire_unseen(fds_, sites_, fd);
      fds_.untrack(fd, /*closed=*/true);
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
  retire_unseen(fds_, sites_, new_fd);  // dup2 over a socket closes it
  if (old_tracked) {
    FdSlot* old_slot = fds_.tracked(old_fd);
    trace::IoCounters* counters = old_slot->counters.load(std::memory_order_relaxed);
    uint32_t old_flags = old_slot->flags.load(std::memory_order_relaxed);
    if (!fds_.track(new_fd, cloexec, counters, old_flags & FdTable::kShared, old_slot)) {
      count_lost(trace::LostReason::kFdTooLarge);
    } else if (old_flags & FdTable::kForkCopy) {
      fds_.tracked(new_fd)->flags.fetch_or(FdTable::kForkCopy, std::memory_order_relaxed);
    }
  } else {
    fds_.untrack(new_fd);  // now refers to something that is no socket
  }
  auto* record = writer_.reserve_for<trace::Dup>(new_fd);
  if (!record) return;
  record->h.flags = cloexec ? trace::kFlagCloexec : 0;
  record->ts = now_ns();
  record->old_fd = old_fd;
  record->via = uint16_t(via);
  writer_.publish(record, trace::RecordType::kDup);
}

void Tracker::on_set_cloexec(int fd, bool cloexec) {
  if (!fds_.is_tracked(fd)) return;
  fork_gate::FdCall gate;
  fds_.set_cloexec(fd, cloexec);
  auto* record = writer_.reserve_for<trace::SetCloexec>(fd);
  if (!record) return;
  record->h.flags = cloexec ? trace::kFlagCloexec : 0;
  record->ts = now_ns();
  writer_.publish(record, trace::RecordType::kSetCloexec);
}

void Tracker::count_lost(trace::LostReason reason) {
  lost_[uint32_t(reason)].fetch_add(1, std::memory_order_relaxed);
}

void Tracker::write_lost_counts() {
  uint64_t counts[5];
  for (int i = 0; i < 5; ++i) counts[i] = lost_[i].load(std::memory_order_relaxed);
  counts[uint32_t(trace::LostReason::kTraceFull)] += writer_.lost();
  counts[uint32_t(trace::LostReason::kStackOmitted)] += stacks_.omitted();
  for (uint32_t reason = 0; reason < 5; ++reason) {
    if (counts[reason] == 0) continue;
    auto* record = writer_.reserve_final<trace::Lost>(0, sizeof(trace::ProcessEnd));
    if (!record) return;
    record->count = counts[reason];
    record->reason = reason;
    writer_.publish(record, trace::RecordType::kLost);
  }
}

constinit Tracker g_tracker;

}  // namespace connleak::shim

namespace connleak::shim {

namespace {

// Calls `visit(fd, inode)` for each socket a message carries (SCM_RIGHTS).
template <class Visit>
void for_each_passed_socket(const msghdr* message, Visit&& visit) {
  if (!message->msg_control) return;
  for (cmsghdr* c = CMSG_FIRSTHDR(message); c; c = CMSG_NXTHDR(const_cast<msghdr*>(message), c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int* fds = reinterpret_cast<const int*>(CMSG_DATA(c));
    for (size_t i = 0; i < count; ++i) {
      struct stat st;
      if (fstat(fds[i], &st) == 0 && S_ISSOCK(st.st_mode)) visit(fds[i], uint64_t(st.st_ino));
    }
  }
}

}  // namespace

// A socket that arrived over a unix socket (SCM_RIGHTS) is new to this
// process: it is tracked from the recvmsg() that brought it, connected if
// the kernel knows its peer.
void Tracker::on_received_fds(const msghdr* message, int recv_flags) {
  if (!message) return;
  uint32_t stack_id = trace::kNoStack;
  for_each_passed_socket(message, [&](int fd, uint64_t inode) {
    if (stack_id == trace::kNoStack) stack_id = capture_stack();
    track_received_socket(fd, recv_flags & MSG_CMSG_CLOEXEC, stack_id, inode);
  });
}

// The sockets a message sent to another process (SCM_RIGHTS): who holds
// them last decides who leaked them.
void Tracker::on_sent_fds(const msghdr* message) {
  for_each_passed_socket(message, [&](int fd, uint64_t inode) {
    if (!fds_.is_tracked(fd)) return;
    fds_.mark_shared(fd);
    write_socket_inode(fd, inode);
  });
}

void Tracker::write_socket_inode(int fd, uint64_t inode) {
  auto* record = writer_.reserve_for<trace::SocketInode>(fd);
  if (!record) return;
  record->inode = inode;
  writer_.publish(record, trace::RecordType::kSocketInode);
  note_record(fd, kInodeRecord, record);
}

void Tracker::track_received_socket(int fd, bool cloexec, uint32_t stack_id, uint64_t inode) {
  retire_unseen(fds_, sites_, fd);
  if (!fds_.track(fd, cloexec)) return count_lost(trace::LostReason::kFdTooLarge);
  write_socket_open(fd, socket_option(fd, SO_DOMAIN), socket_option(fd, SO_TYPE), socket_option(fd, SO_PROTOCOL),
                    uint8_t(trace::kFlagReceived | (cloexec ? trace::kFlagCloexec : 0)), stack_id);
  write_socket_inode(fd, inode);
  fds_.mark_shared(fd);
  sockaddr_storage peer{};
  socklen_t peer_len = sizeof(peer);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0) {
    on_connected(fd, reinterpret_cast<sockaddr*>(&peer), peer_len, 0, stack_id);
  }
}

}  // namespace connleak::shim
