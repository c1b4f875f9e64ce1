// Fork in the replay: what a child starts with. At its Fork record the
// parent's sockets and live sessions are copied (ForkState); the child,
// replayed later, starts from those copies. Records of other threads cannot
// straddle the Fork record (the shim holds fd calls back while it forks),
// except calls that block, like accept(): a child forked while one was in
// flight lists the fds it really holds (ForkFds), and the replay corrects
// its start from that list.
#include <algorithm>

#include "model/replay.h"

namespace connleak::detail {

ForkState Replay::capture() const {
  ForkState state;
  std::map<int, int> copy_of;  // model socket -> index into state.sockets
  for (const auto& [fd, ref] : fds_) {
    auto [it, fresh] = copy_of.try_emplace(ref.socket, int(state.sockets.size()));
    if (fresh) state.sockets.push_back(model_.sockets[size_t(ref.socket)]);
    state.fds[fd] = {it->second, ref.cloexec};
  }
  for (const auto& [handle, index] : live_sessions_) {
    state.live_sessions[handle] = int(state.sessions.size());
    SessionLife copy = model_.sessions[size_t(index)];
    copy.handle = uint64_t(index);  // the original, to map parents and owners below
    state.sessions.push_back(std::move(copy));
  }
  return state;
}

void Replay::on_fork(const RecordView& r) {
  const auto& fork = r.as<trace::Fork>();
  note_time(fork.ts);
  ForkKey key{proc().trace, r.offset()};
  // A child that inherited nothing traced leaves a trace only if it had an
  // event, or says it could not make one (trace::kFlagLazyChild); it
  // starts from an empty state (trace::kHeaderEmptyFork), nothing to keep.
  bool lazy = fork.h.flags & trace::kFlagLazyChild;
  if (!lazy || fork.error != 0) forks_.seen.insert(key);
  if (lazy && fork.child_pid > 0) model_.lazy_forks.push_back({process_, fork.child_pid, fork.ts});
  auto wanted = forks_.wanted.find(key);
  if (wanted == forks_.wanted.end() && (!forks_.capture_every_fork || lazy)) return;  // no child trace needs it
  // The parent's sockets are shared with the child from here on.
  for (const auto& [fd, ref] : fds_) sock(ref.socket).shared = true;
  ForkState& state = forks_.captured[key] = capture();
  if (wanted != forks_.wanted.end() && wanted->second) watch_after_fork(state, *wanted->second);
}

// The child holds fds its parent recorded only after the Fork record: look
// for the sockets the parent makes there next.
void Replay::watch_after_fork(ForkState& state, const std::set<int>& listed) {
  std::set<int> missing;
  for (int fd : listed)
    if (!state.fds.count(fd)) missing.insert(fd);
  if (!missing.empty()) watching_.emplace_back(&state, std::move(missing));
}

void Replay::note_made_after_fork(int fd, int socket) {
  for (auto& [state, missing] : watching_) {
    if (!missing.erase(fd)) continue;
    sock(socket).shared = true;
    state->made_after.emplace(fd, std::make_pair(sock(socket), fds_[fd].cloexec));
  }
  watching_.erase(std::remove_if(watching_.begin(), watching_.end(),
                                 [](const auto& entry) { return entry.second.empty(); }),
                  watching_.end());
}

void Replay::inherit(ForkState state) {
  inherited_ = true;
  // Sessions first: the sockets name them.
  std::map<int, int> session_of;  // parent's session index -> the child's copy
  for (const auto& [handle, index] : state.live_sessions) {
    SessionLife copy = state.sessions[size_t(index)];
    int original = int(copy.handle);
    copy.handle = handle;
    copy.process = process_;
    copy.inherited = true;
    copy.site = -1;  // counted where it was made
    model_.sessions.push_back(std::move(copy));
    session_of[original] = int(model_.sessions.size() - 1);
    live_sessions_[handle] = int(model_.sessions.size() - 1);
  }
  for (const auto& [original, copy] : session_of) {
    int& parent = model_.sessions[size_t(copy)].parent;
    if (auto it = session_of.find(parent); it != session_of.end()) parent = it->second;
  }
  std::vector<int> placed(state.sockets.size(), -1);
  for (auto& [fd, ref] : state.fds) {
    int& index = placed[size_t(ref.socket)];
    if (index < 0) {
      SocketLife& copy = state.sockets[size_t(ref.socket)];
      if (auto it = session_of.find(copy.session); it != session_of.end()) copy.session = it->second;
      index = adopt(std::move(copy));
    }
    fds_[fd] = {index, ref.cloexec};
    ++sock(index).fd_refs;
  }
  made_after_fork_ = std::move(state.made_after);
}

// A copy of the parent's socket becomes the child's own.
int Replay::adopt(SocketLife copy) {
  copy.process = process_;
  copy.inherited = true;
  copy.site = -1;  // counted where it was made
  copy.shared = true;
  copy.used = false;  // until this process does something with it
  copy.end = SocketEnd::kOpen;
  // Made before the child started, even if the parent recorded it a moment later.
  copy.opened_mono_ns = std::min(copy.opened_mono_ns, proc().start_mono_ns);
  // The child's own counters records start from the parent's values.
  copy.has_io_counters = false;
  copy.bytes_sent = copy.bytes_received = copy.last_io_mono_ns = copy.counters_offset = 0;
  copy.open_fds.clear();
  copy.fd_refs = 0;
  return place_socket(std::move(copy));
}

// The fds the child really holds. Those not listed were closed before the
// fork (recorded after it); those listed and not inherited were made before
// the fork by a call recorded after it.
void Replay::on_fork_fds(const RecordView& r) {
  const auto& rec = r.as<trace::ForkFds>();
  std::set<int> listed;
  auto* fds = reinterpret_cast<const int32_t*>(&rec + 1);
  for (uint32_t i = 0; i < rec.count; ++i) listed.insert(fds[i]);
  std::vector<int> gone;
  for (const auto& [fd, ref] : fds_)
    if (!listed.count(fd)) gone.push_back(fd);
  for (int fd : gone) {
    int socket = fds_[fd].socket;
    fds_.erase(fd);
    if (--sock(socket).fd_refs == 0) {
      sock(socket).end = SocketEnd::kClosed;  // never the child's: no release to note
      recycle(socket);
    }
  }
  for (int fd : listed) {
    auto made = made_after_fork_.find(fd);
    if (fds_.count(fd) || made == made_after_fork_.end()) continue;
    int index = adopt(std::move(made->second.first));
    fds_[fd] = {index, made->second.second};
    ++sock(index).fd_refs;
  }
  made_after_fork_.clear();
}

}  // namespace connleak::detail
