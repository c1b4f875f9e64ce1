// The Tracker's session records: begin, events, and which session owns
// which socket.
#include <string.h>

#include "fork_gate.h"
#include "session_scope.h"
#include "tracker.h"

namespace connleak::shim {

void Tracker::on_session_begin(const void* handle, trace::SessionApi api, const char* kind) {
  if (!handle) return;
  // Made inside another session's constructor or destructor: the library's
  // own helper object (curl_multi_init's internal easy handle).
  if (current_session().handle == kConstructing) return;
  size_t kind_len = kind ? strnlen(kind, 200) : 0;
  fork_gate::FdCall gate;  // the session table and its records change together
  auto* record = writer_.reserve<trace::SessionBegin>(kind_len);
  if (!record) return;
  CurrentSession inside = current_session();
  record->ts = now_ns();
  record->handle = reinterpret_cast<uint64_t>(handle);
  record->parent = inside.handle == record->handle ? 0 : inside.handle;
  record->stack_id = capture_stack();
  record->api = uint16_t(api);
  record->kind_len = uint16_t(kind_len);
  if (kind_len) memcpy(record + 1, kind, kind_len);
  writer_.publish(record, trace::RecordType::kSessionBegin);
  // The same address again: the old object was freed where the shim could
  // not see (as the analyzer takes it); it counts as closed at its site.
  if (SessionSlot* stale = sessions_.find(record->handle); stale && stale->site != kNoSessionSite)
    if (SiteEntry* site = sites_.entry(stale->site)) SiteTable::count(site->sessions_closed);
  if (SessionSlot* slot = sessions_.insert(record->handle)) {
    slot->begin_ref = writer_.ref_of(record);
    slot->api = uint16_t(api);
    // As the analyzer counts: sessions a library makes inside another's
    // call are that one's business, not a site's.
    slot->site = record->parent ? kNoSessionSite : record->stack_id;
    if (SiteEntry* site = record->parent ? nullptr : sites_.entry(record->stack_id)) {
      SiteTable::count(site->sessions_opened);
      site->session_api.store(uint16_t(uint16_t(api) + 1), std::memory_order_relaxed);
    }
  } else if (writer_.bounded()) {
    count_lost(trace::LostReason::kCheckpointIncomplete);  // a checkpoint cannot carry it
  }
  int pending[8];
  for (int i = 0, n = take_pending_fds(pending, 8); i < n; ++i) on_socket_owner(pending[i], handle, api);
}

void Tracker::on_session_event(const void* handle, trace::SessionApi api, trace::SessionEventType type,
                               const void* other) {
  if (!handle) return;
  fork_gate::FdCall gate;
  auto* record = writer_.reserve<trace::SessionEvent>();
  if (!record) return;
  record->ts = now_ns();
  update_session(handle, type, other, record->ts);
  record->handle = reinterpret_cast<uint64_t>(handle);
  record->other = reinterpret_cast<uint64_t>(other);
  record->api = uint16_t(api);
  record->type = uint16_t(type);
  writer_.publish(record, trace::RecordType::kSessionEvent);
}

// The session table follows the model's rules (analyzer/model/replay.cpp): a
// release to no references ends an SSL_CTX.
void Tracker::update_session(const void* handle, trace::SessionEventType type, const void* other, uint64_t ts) {
  SessionSlot* slot = sessions_.find(reinterpret_cast<uint64_t>(handle));
  if (!slot) return;
  using Event = trace::SessionEventType;
  switch (type) {
    case Event::kTransferDone:
      ++slot->transfers;
      slot->last_transfer_ns = ts;
      return;
    case Event::kAddRef: ++slot->references; return;
    case Event::kJoined: slot->multi = reinterpret_cast<uint64_t>(other); return;
    case Event::kLeft: slot->multi = 0; return;
    case Event::kRelease:
      if (--slot->references > 0) return;
      [[fallthrough]];
    case Event::kEnd:
      if (slot->site != kNoSessionSite)
        if (SiteEntry* site = sites_.entry(slot->site)) SiteTable::count(site->sessions_closed);
      sessions_.erase(slot);
      return;
    default: return;
  }
}

void Tracker::on_socket_owner(int fd, const void* handle, trace::SessionApi api) {
  if (!handle || !fds_.is_tracked(fd)) return;
  fork_gate::FdCall gate;
  auto* record = writer_.reserve_for<trace::SocketOwner>(fd);
  if (!record) return;
  record->handle = reinterpret_cast<uint64_t>(handle);
  record->api = uint16_t(api);
  writer_.publish(record, trace::RecordType::kSocketOwner);
  note_record(fd, kOwnerRecord, record);
}

void Tracker::note_owner_of_new_socket(int fd) {
  CurrentSession inside = current_session();
  if (inside.handle == kConstructing) {
    add_pending_fd(fd);  // the session's handle comes when its constructor returns
  } else if (inside.handle) {
    on_socket_owner(fd, reinterpret_cast<const void*>(inside.handle), inside.api);
  }
}

}  // namespace connleak::shim
