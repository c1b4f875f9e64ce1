#include "model/replay.h"

#include "connleak/session_apis.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace connleak::detail {
namespace {

using trace::RecordType;

std::string tail_string(std::string_view tail, size_t offset, size_t len) {
  return std::string(tail.substr(offset, len));
}

std::vector<std::string> split_args(std::string_view bytes) {
  std::vector<std::string> args;
  size_t start = 0;
  while (start < bytes.size()) {
    size_t end = bytes.find('\0', start);
    if (end == std::string_view::npos) end = bytes.size();
    args.emplace_back(bytes.substr(start, end - start));
    start = end + 1;
  }
  return args;
}

std::string address_bytes(const trace::AddressTail& tail) {
  auto* bytes = reinterpret_cast<const char*>(&tail + 1);
  return std::string(bytes, tail.addr_len);
}


bool connect_established(int error) {
  // A non-blocking connect is under way: the connection exists as far as
  // resources go.
  return error == 0 || error == EINPROGRESS || error == EALREADY || error == EISCONN;
}

}  // namespace

std::string session_api_name(trace::SessionApi api, const std::string& kind) {
  if (api == trace::SessionApi::kUser) return "user:" + kind;
  const SessionApiNames* names = session_api_names(api);
  return names ? std::string(names->name) : "unknown";
}

void Replay::note_use(int fd) {
  if (auto it = fds_.find(fd); it != fds_.end()) sock(it->second.socket).used = true;
}

void Replay::apply(const RecordView& r) {
  // A checkpoint's copies say what the image held, not that it used it now;
  // its counters are this image's own.
  if (checkpoint_ == CheckpointMode::kNone || r.type() == RecordType::kIoCounters) switch (r.type()) {
    case RecordType::kConnect: {
      // A received socket's first Connect is the shim saying it came connected.
      auto it = fds_.find(r.as<trace::Connect>().h.fd);
      if (it != fds_.end() && !(sock(it->second.socket).received && !sock(it->second.socket).connected))
        sock(it->second.socket).used = true;
      break;
    }
    case RecordType::kBind:
    case RecordType::kListen:
    case RecordType::kShutdown:
    case RecordType::kSocketOwner: note_use(r.as<trace::RecordHeader>().fd); break;
    case RecordType::kAccept: note_use(r.as<trace::Accept>().listen_fd); break;
    case RecordType::kDup: note_use(r.as<trace::Dup>().old_fd); break;
    case RecordType::kIoCounters: {
      const auto& rec = r.as<trace::IoCounters>();
      if (!(rec.h.flags & trace::kFlagCarriedOver) || rec.last_io_ns) note_use(rec.h.fd);
      break;
    }
    default: break;
  }
  switch (r.type()) {
    case RecordType::kProcessInfo: return on_process_info(r);
    case RecordType::kModule: return on_module(r);
    case RecordType::kStack: return on_stack(r);
    case RecordType::kSocketOpen: {
      const auto& rec = r.as<trace::SocketOpen>();
      note_time(rec.ts);
      int index = open_socket(rec.h.fd, rec.ts, rec.h.flags & trace::kFlagCloexec);
      if (checkpoint_ == CheckpointMode::kNone) ++model_.sockets_opened;
      SocketLife& s = sock(index);
      s.domain = rec.domain;
      s.type = rec.type;
      s.protocol = rec.protocol;
      s.from_socketpair = rec.h.flags & trace::kFlagSocketPair;
      s.received = rec.h.flags & trace::kFlagReceived;
      // Received, it is used once this process does something with it, or
      // if it was handed over for good (model.cpp, decide_last_holder).
      s.used = !s.received;
      s.open_stack = {process_, rec.stack_id};
      count_opened(index, rec.ts);
      if (s.received) note_made_after_fork(rec.h.fd, index);
      return;
    }
    case RecordType::kAccept: {
      const auto& rec = r.as<trace::Accept>();
      note_time(rec.ts);
      auto listener = fds_.find(rec.listen_fd);
      int index = open_socket(rec.h.fd, rec.ts, rec.h.flags & trace::kFlagCloexec);
      if (checkpoint_ == CheckpointMode::kNone) ++model_.sockets_opened;
      SocketLife& s = sock(index);
      if (listener != fds_.end()) {
        const SocketLife& l = sock(listener->second.socket);
        s.domain = l.domain;
        s.type = l.type;
        s.protocol = l.protocol;
        s.local = l.local;
      }
      s.accepted = s.connected = true;
      s.connected_mono_ns = s.opened_mono_ns;
      s.peer = address_bytes(rec.peer);
      s.open_stack = s.connect_stack = {process_, rec.stack_id};
      count_opened(index, rec.ts);
      if (s.domain == 0 && s.peer.size() >= sizeof(sa_family_t)) {
        sa_family_t family;
        std::memcpy(&family, s.peer.data(), sizeof(family));
        s.domain = family;
        s.type = SOCK_STREAM;
      }
      note_made_after_fork(rec.h.fd, index);
      return;
    }
    case RecordType::kConnect: {
      const auto& rec = r.as<trace::Connect>();
      note_time(rec.ts);
      auto it = fds_.find(rec.h.fd);
      if (it == fds_.end()) return;
      SocketLife& s = sock(it->second.socket);
      s.peer = address_bytes(rec.peer);
      s.connect_error = rec.error;
      s.connected = connect_established(rec.error);
      s.connected_mono_ns = rec.ts;
      s.connect_stack = {process_, rec.stack_id};
      if (s.connected && s.session >= 0) ++model_.sessions[size_t(model_.root_session(s.session))].connections_opened;
      return;
    }
    case RecordType::kBind: {
      const auto& rec = r.as<trace::Bind>();
      note_time(rec.ts);
      auto it = fds_.find(rec.h.fd);
      if (it != fds_.end() && rec.error == 0) sock(it->second.socket).local = address_bytes(rec.local);
      return;
    }
    case RecordType::kListen: {
      const auto& rec = r.as<trace::Listen>();
      note_time(rec.ts);
      if (auto it = fds_.find(rec.h.fd); it != fds_.end()) sock(it->second.socket).listening = true;
      return;
    }
    case RecordType::kShutdown: {
      const auto& rec = r.as<trace::Shutdown>();
      note_time(rec.ts);
      if (auto it = fds_.find(rec.h.fd); it != fds_.end()) sock(it->second.socket).shut_down = true;
      return;
    }
    case RecordType::kClose: {
      const auto& rec = r.as<trace::Close>();
      note_time(rec.ts);
      release_fd(rec.h.fd, rec.ts);  // even a failed close() frees the fd on Linux
      return;
    }
    case RecordType::kCloseRange: {
      const auto& rec = r.as<trace::CloseRange>();
      note_time(rec.ts);
      if (rec.error != 0) return;
      auto first = fds_.lower_bound(int(std::min<uint32_t>(rec.first, INT32_MAX)));
      std::vector<int> in_range;
      for (auto it = first; it != fds_.end() && uint32_t(it->first) <= rec.last; ++it) {
        in_range.push_back(it->first);
      }
      for (int fd : in_range) {
        if (rec.flags & 4 /* CLOSE_RANGE_CLOEXEC */) {
          fds_[fd].cloexec = true;
        } else {
          release_fd(fd, rec.ts);
        }
      }
      return;
    }
    case RecordType::kDup: {
      const auto& rec = r.as<trace::Dup>();
      note_time(rec.ts);
      if (rec.old_fd == rec.h.fd) return;
      auto old = fds_.find(rec.old_fd);
      int socket = old == fds_.end() ? -1 : old->second.socket;
      release_fd(rec.h.fd, rec.ts);  // dup2/dup3 close what new_fd referred to
      if (socket >= 0) {
        fds_[rec.h.fd] = {socket, bool(rec.h.flags & trace::kFlagCloexec)};
        ++sock(socket).fd_refs;
      }
      return;
    }
    case RecordType::kSetCloexec: {
      const auto& rec = r.as<trace::SetCloexec>();
      note_time(rec.ts);
      if (auto it = fds_.find(rec.h.fd); it != fds_.end()) it->second.cloexec = rec.h.flags & trace::kFlagCloexec;
      return;
    }
    case RecordType::kFork: return on_fork(r);
    case RecordType::kForkFds: return on_fork_fds(r);
    case RecordType::kSocketInode: {
      const auto& rec = r.as<trace::SocketInode>();
      auto it = fds_.find(rec.h.fd);
      if (it == fds_.end() || !rec.inode) return;
      SocketLife& s = sock(it->second.socket);
      s.inode = rec.inode;
      s.shared = true;  // sent to or received from another process
      model_.ids_by_inode[rec.inode].push_back(s.shared_id);
      return;
    }
    case RecordType::kExec: {
      const auto& rec = r.as<trace::Exec>();
      note_time(rec.ts);
      exec_pending_ = true;
      exec_ts_ = rec.ts;
      proc().passed_on_at_exec = pending_pass_on_;
      pending_pass_on_.clear();
      return;
    }
    case RecordType::kExecFailed: {
      note_time(r.as<trace::ExecFailed>().ts);
      exec_pending_ = false;
      proc().passed_on_at_exec.clear();
      return;
    }
    case RecordType::kOpenAtExit: {
      const auto& rec = r.as<trace::OpenAtExit>();
      auto it = fds_.find(rec.h.fd);
      if (it == fds_.end()) return;
      SocketLife& s = sock(it->second.socket);
      s.tcp_state = rec.tcp_state;
      if (rec.local.addr_len) s.local = address_bytes(rec.local);
      confirmed_.insert(it->second.socket);
      return;
    }
    case RecordType::kLost: {
      const auto& rec = r.as<trace::Lost>();
      if (rec.reason == uint32_t(trace::LostReason::kStackOmitted)) {
        proc().stacks_omitted += rec.count;  // recorded, only without a stack
      } else {
        proc().lost_events += rec.count;
      }
      return;
    }
    case RecordType::kProcessEnd: {
      const auto& rec = r.as<trace::ProcessEnd>();
      end_ts_ = rec.ts;
      proc().exit_status = rec.exit_status;
      return;
    }
    case RecordType::kIoCounters: return on_io_counters(r.as<trace::IoCounters>(), r.offset());
    case RecordType::kInheritedFd: return on_inherited_fd(r);
    case RecordType::kPassOn: {
      const auto& rec = r.as<trace::PassOn>();
      if (auto it = fds_.find(rec.h.fd); it != fds_.end()) {
        pending_pass_on_[rec.inode] = it->second.socket;
        sock(it->second.socket).pinned = true;  // the next image may name it
      }
      return;
    }
    case RecordType::kSpawn: {
      const auto& rec = r.as<trace::Spawn>();
      note_time(rec.ts);
      if (rec.child_pid > 0) proc().passed_on_at_spawn[rec.child_pid] = pending_pass_on_;
      pending_pass_on_.clear();
      return;
    }
    case RecordType::kChildExit: {
      const auto& rec = r.as<trace::ChildExit>();
      note_time(rec.ts);
      model_.reaped.push_back({process_, rec.pid, rec.wait_status, rec.ts});
      return;
    }
    case RecordType::kBadClose: {
      const auto& rec = r.as<trace::BadClose>();
      note_time(rec.ts);
      auto last = last_closed_at_.find(rec.h.fd);
      int previous = last == last_closed_at_.end() ? -1 : last->second;
      if (previous >= 0) sock(previous).pinned = true;
      model_.bad_closes.push_back({process_, rec.h.fd, rec.ts, {process_, rec.stack_id}, previous});
      return;
    }
    case RecordType::kSessionBegin: return on_session_begin(r);
    case RecordType::kSessionEvent: return on_session_event(r.as<trace::SessionEvent>());
    case RecordType::kSocketOwner: {
      const auto& rec = r.as<trace::SocketOwner>();
      auto socket = fds_.find(rec.h.fd);
      auto session = live_sessions_.find(rec.handle);
      if (socket == fds_.end() || session == live_sessions_.end()) return;
      SocketLife& s = sock(socket->second.socket);
      // Connected inside the session's constructor (PQconnectdb), before its
      // handle was known: the connection is the session's from its start.
      if (s.connected && s.session < 0 && checkpoint_ == CheckpointMode::kNone)
        ++model_.sessions[size_t(model_.root_session(session->second))].connections_opened;
      s.session = session->second;
      return;
    }
    case RecordType::kCheckpointBegin:  // dispatch() handles these
    case RecordType::kCheckpointEnd:
    case RecordType::kSiteCounters:
    case RecordType::kSessionState:
    case RecordType::kNone: return;
  }
}

void Replay::on_session_begin(const RecordView& r) {
  const auto& rec = r.as<trace::SessionBegin>();
  note_time(rec.ts);
  // The same address again: the old object was freed where the shim could
  // not see (a library-internal free).
  if (auto stale = live_sessions_.find(rec.handle); stale != live_sessions_.end()) {
    SessionLife& gone = model_.sessions[size_t(stale->second)];
    gone.ended = true;
    gone.end_mono_ns = rec.ts;
    if (gone.site >= 0) model_.sites[size_t(gone.site)].record(rec.ts, 0, 1);
  }
  SessionLife s;
  s.process = process_;
  s.handle = rec.handle;
  s.api = session_api_name(trace::SessionApi(rec.api), std::string(r.tail<trace::SessionBegin>().substr(0, rec.kind_len)));
  s.stack = {process_, rec.stack_id};
  s.created_mono_ns = rec.ts;
  if (auto parent = live_sessions_.find(rec.parent); rec.parent && parent != live_sessions_.end()) {
    s.parent = parent->second;
  }
  s.shared_id = int(model_.sessions.size());
  // Sessions a library makes inside another's call are that one's business.
  // One a checkpoint rebuilds was counted at its site by the checkpoint.
  if (s.parent < 0) {
    s.site = site_for(s.stack, true, s.api);
    if (checkpoint_ == CheckpointMode::kNone) model_.sites[size_t(s.site)].record(rec.ts, 1, 0);
  }
  if (checkpoint_ == CheckpointMode::kApply) {
    s.from_checkpoint = !fork_start_checkpoint_;
    s.inherited = fork_start_checkpoint_;
  }
  model_.sessions.push_back(std::move(s));
  live_sessions_[rec.handle] = int(model_.sessions.size() - 1);
}

void Replay::on_session_event(const trace::SessionEvent& rec) {
  note_time(rec.ts);
  auto it = live_sessions_.find(rec.handle);
  if (it == live_sessions_.end()) return;
  SessionLife& s = model_.sessions[size_t(it->second)];
  using Event = trace::SessionEventType;
  switch (Event(rec.type)) {
    case Event::kTransferDone:
      ++s.completed_transfers;
      s.last_transfer_mono_ns = rec.ts;
      return;
    case Event::kAddRef:
      ++s.references;
      return;
    case Event::kRelease:
      if (--s.references > 0) return;
      [[fallthrough]];
    case Event::kEnd:
      s.ended = true;
      s.end_mono_ns = rec.ts;
      if (s.site >= 0) model_.sites[size_t(s.site)].record(rec.ts, 0, 1);
      live_sessions_.erase(it);
      return;
    default:
      return;  // reset, joined, left, shutdown: the timeline's, not the lifetime's
  }
}

void Replay::on_io_counters(const trace::IoCounters& rec, uint64_t offset) {
  auto it = fds_.find(rec.h.fd);
  if (it == fds_.end()) return;
  SocketLife& s = sock(it->second.socket);
  // One record per fd that did I/O first: they add up.
  if (!s.has_io_counters) s.counters_offset = offset;
  s.has_io_counters = true;
  s.bytes_sent += rec.bytes_sent;
  s.bytes_received += rec.bytes_received;
  // The shim stamps I/O with the coarse clock (a tick early at worst), and an
  // accept() with the fine one: I/O never predates its socket.
  if (rec.last_io_ns) s.last_io_mono_ns = std::max({s.last_io_mono_ns, rec.last_io_ns, s.opened_mono_ns});
}

void Replay::on_inherited_fd(const RecordView& r) {
  const auto& rec = r.as<trace::InheritedFd>();
  note_time(rec.ts);
  // Two inherited fds of one socket (a dup2 file action): one socket.
  for (const auto& [fd, ref] : fds_) {
    const SocketLife& other = sock(ref.socket);
    if (other.inherited_at_start && other.inode == rec.inode && rec.inode) {
      fds_[rec.h.fd] = {ref.socket, bool(rec.h.flags & trace::kFlagCloexec)};
      ++sock(ref.socket).fd_refs;
      return;
    }
  }
  int index = open_socket(rec.h.fd, rec.ts, rec.h.flags & trace::kFlagCloexec);
  SocketLife& s = sock(index);
  s.inherited_at_start = true;
  s.used = false;
  s.inode = rec.inode;
  s.domain = rec.domain;
  s.type = rec.type;
  s.protocol = rec.protocol;
  s.local = address_bytes(rec.local);
  auto* peer = reinterpret_cast<const trace::AddressTail*>(reinterpret_cast<const char*>(&rec + 1) +
                                                           trace::align_record(rec.local.addr_len));
  s.peer = address_bytes(*peer);
  s.connected = !s.peer.empty();
}

void Replay::on_process_info(const RecordView& r) {
  const auto& rec = r.as<trace::ProcessInfo>();
  auto tail = r.tail<trace::ProcessInfo>();
  proc().exe = tail_string(tail, 0, rec.exe_len);
  proc().argv = split_args(tail.substr(rec.exe_len, rec.args_len));
}

void Replay::on_module(const RecordView& r) {
  const auto& rec = r.as<trace::Module>();
  auto tail = r.tail<trace::Module>();
  ModuleInfo module;
  module.bias = rec.bias;
  module.low = rec.low;
  module.high = rec.high;
  module.build_id = tail_string(tail, 0, rec.build_id_len);
  module.path = tail_string(tail, rec.build_id_len, rec.path_len);
  proc().modules.push_back(std::move(module));
}

void Replay::on_stack(const RecordView& r) {
  const auto& rec = r.as<trace::Stack>();
  auto tail = r.tail<trace::Stack>();
  std::vector<uint64_t> ips(rec.depth);
  std::memcpy(ips.data(), tail.data(), sizeof(uint64_t) * rec.depth);
  proc().stacks[rec.id] = std::move(ips);
}

int Replay::open_socket(int fd, uint64_t ts, bool cloexec) {
  // The kernel handed out this number, so whatever the model still had under
  // it was closed behind the shim's back (raw syscall, libc-internal close).
  if (auto stale = fds_.find(fd); stale != fds_.end()) {
    int old = stale->second.socket;
    fds_.erase(stale);
    if (--sock(old).fd_refs == 0) {
      sock(old).end = SocketEnd::kClosedUnseen;
      sock(old).end_mono_ns = ts;
      count_closed(old, ts);
      note_release(old, ts);
      recycle(old);
    }
  }
  SocketLife s;
  s.process = process_;
  s.fd = fd;
  s.opened_mono_ns = std::max(ts, proc().start_mono_ns);  // a coarse stamp can be a tick early
  s.fd_refs = 1;
  s.shared_id = model_.shared_ids++;
  s.used = true;  // made here (an inherited-at-start one is marked unused by its caller)
  int index = place_socket(std::move(s));
  fds_[fd] = {index, cloexec};
  return index;
}

int Replay::place_socket(SocketLife s) {
  if (model_.free_sockets.empty()) {
    model_.sockets.push_back(std::move(s));
    return int(model_.sockets.size() - 1);
  }
  int index = model_.free_sockets.back();
  model_.free_sockets.pop_back();
  model_.sockets[size_t(index)] = std::move(s);
  return index;
}

int Replay::site_for(const StackRef& stack, bool sessions, const std::string& api) {
  auto [it, fresh] = sites_.try_emplace({stack.id, sessions, api}, int(model_.sites.size()));
  if (fresh) {
    SiteHistory site;
    site.process = process_;
    site.stack = stack;
    site.sessions = sessions;
    site.api = api;
    model_.sites.push_back(std::move(site));
  }
  return it->second;
}

void Replay::count_opened(int socket, uint64_t ts) {
  SocketLife& s = sock(socket);
  s.site = site_for(s.open_stack, false, "");
  // A checkpoint's sockets were counted by its SiteCounters.
  if (checkpoint_ == CheckpointMode::kNone) model_.sites[size_t(s.site)].record(std::max(ts, s.opened_mono_ns), 1, 0);
}

void Replay::count_closed(int socket, uint64_t ts) {
  SocketLife& s = sock(socket);
  if (s.site < 0) return;
  model_.sites[size_t(s.site)].record(ts, 0, 1);
  s.site = -1;
}

// The end of one process's reference to a socket others share: who held it
// last is decided from these (model.cpp).
void Replay::note_release(int socket, uint64_t ts) {
  const SocketLife& s = sock(socket);
  if (s.shared) model_.shared_releases[s.shared_id].push_back({process_, ts, s.used, s.last_io_mono_ns});
}

void Replay::recycle(int socket) {
  SocketLife& s = sock(socket);
  bool closed = s.end == SocketEnd::kClosed || s.end == SocketEnd::kClosedUnseen;
  if (!closed || s.pinned || s.recycled || s.fd_refs > 0) return;
  if (model_.options.keep_closed && s.used) {
    if (model_.closed.size() < model_.options.max_closed) {
      model_.closed.push_back(std::move(s));
    } else {
      ++model_.closed_not_kept;
    }
  }
  s = SocketLife{};
  s.recycled = true;
  s.end = SocketEnd::kClosed;
  model_.free_sockets.push_back(socket);
}

void Replay::release_fd(int fd, uint64_t ts) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;
  int socket = it->second.socket;
  fds_.erase(it);
  if (--sock(socket).fd_refs == 0) {
    sock(socket).end = SocketEnd::kClosed;
    sock(socket).end_mono_ns = std::max(ts, sock(socket).opened_mono_ns);  // coarse close, fine accept
    count_closed(socket, sock(socket).end_mono_ns);
    note_release(socket, sock(socket).end_mono_ns);
    // Kept while it is the last socket closed at this fd (a later double
    // close names it); the one it replaces there can go.
    auto [last, fresh] = last_closed_at_.try_emplace(fd, socket);
    if (!fresh && last->second != socket) {
      recycle(last->second);
      last->second = socket;
    }
  }
}

// Decides how the process ended and what happened to the sockets it held.
void Replay::finish() {
  ProcessLife& p = proc();
  if (end_ts_) {
    p.end = ProcessEnd::kExit;
    p.end_mono_ns = *end_ts_;
  } else if (exec_pending_) {
    p.end = ProcessEnd::kExec;
    p.end_mono_ns = exec_ts_;
  } else {
    p.end = ProcessEnd::kUnknown;  // killed, or crashed: no end record
    p.end_mono_ns = std::max(last_ts_, p.start_mono_ns);
  }
  for (const auto& [handle, index] : live_sessions_) {
    model_.sessions[size_t(index)].alive_at_end = true;
    model_.sessions[size_t(index)].end_mono_ns = p.end_mono_ns;
  }
  std::map<int, std::vector<int>> fds_by_socket;
  for (const auto& [fd, ref] : fds_) fds_by_socket[ref.socket].push_back(fd);
  for (auto& [socket, fds] : fds_by_socket) {
    SocketLife& s = sock(socket);
    s.open_fds = fds;
    s.end_mono_ns = p.end_mono_ns;
    if (p.end == ProcessEnd::kExit && !confirmed_.count(socket)) {
      s.end = SocketEnd::kClosedUnseen;  // the kernel said it was gone at exit
      count_closed(socket, p.end_mono_ns);
      note_release(socket, p.end_mono_ns);
    } else if (p.end == ProcessEnd::kExec) {
      bool survives = std::any_of(fds.begin(), fds.end(), [&](int fd) { return !fds_[fd].cloexec; });
      s.end = survives ? SocketEnd::kPassedOnAtExec : SocketEnd::kClosedAtExec;
      if (!survives) note_release(socket, p.end_mono_ns), count_closed(socket, p.end_mono_ns);
    } else {
      s.end = SocketEnd::kOpen;  // its release is the process's end: model.cpp notes it
    }
  }
}

}  // namespace connleak::detail
