// The connleak.h annotations: a program's own session types.
#include "session_roles.h"

using namespace connleak::shim::sessions;

CONNLEAK_EXPORT void connleak_session_begin(const char* kind, const void* handle) {
  record_begin(handle, Api::kUser, kind ? kind : "session");
}

CONNLEAK_EXPORT void connleak_session_transfer_done(const void* handle) {
  record_event(handle, Api::kUser, Event::kTransferDone);
}

CONNLEAK_EXPORT void connleak_session_end(const void* handle) { record_event(handle, Api::kUser, Event::kEnd); }
