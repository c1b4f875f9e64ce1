#include "session_roles.h"

#include <limits.h>

namespace connleak::shim::sessions {

void record_begin(const void* handle, Api api, const char* kind) {
  if (handle && tracing()) {
    ErrnoKeeper keep;
    tracker().on_session_begin(handle, api, kind);
  }
}

void record_event(const void* handle, Api api, Event type, const void* other) {
  if (inside_session_call()) return;
  if (handle && tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_session_event(handle, api, type, other);
  }
}

void record_owner(intptr_t fd, const void* handle, Api api) {
  if (inside_session_call() || fd < 0 || fd > INT_MAX) return;
  if (handle && tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_socket_owner(int(fd), handle, api);
  }
}

}  // namespace connleak::shim::sessions
