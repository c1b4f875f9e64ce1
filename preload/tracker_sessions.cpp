// The Tracker's session records: begin, events, and which session owns
// which socket.
#include <string.h>

#include "session_scope.h"
#include "tracker.h"

namespace connleak::shim {

void Tracker::on_session_begin(const void* handle, trace::SessionApi api, const char* kind) {
  if (!handle) return;
  // Made inside another session's constructor or destructor: the library's
  // own helper object (curl_multi_init's internal easy handle).
  if (current_session().handle == kConstructing) return;
  size_t kind_len = kind ? strnlen(kind, 200) : 0;
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
  int pending[8];
  for (int i = 0, n = take_pending_fds(pending, 8); i < n; ++i) on_socket_owner(pending[i], handle, api);
}

void Tracker::on_session_event(const void* handle, trace::SessionApi api, trace::SessionEventType type,
                               const void* other) {
  if (!handle) return;
  auto* record = writer_.reserve<trace::SessionEvent>();
  if (!record) return;
  record->ts = now_ns();
  record->handle = reinterpret_cast<uint64_t>(handle);
  record->other = reinterpret_cast<uint64_t>(other);
  record->api = uint16_t(api);
  record->type = uint16_t(type);
  writer_.publish(record, trace::RecordType::kSessionEvent);
}

void Tracker::on_socket_owner(int fd, const void* handle, trace::SessionApi api) {
  if (!handle || !fds_.is_tracked(fd)) return;
  auto* record = writer_.reserve_for<trace::SocketOwner>(fd);
  if (!record) return;
  record->handle = reinterpret_cast<uint64_t>(handle);
  record->api = uint16_t(api);
  writer_.publish(record, trace::RecordType::kSocketOwner);
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
