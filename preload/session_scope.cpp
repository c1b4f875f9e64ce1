#include "session_scope.h"

namespace connleak::shim {
namespace {

__attribute__((tls_model("initial-exec"))) thread_local CurrentSession t_session;

}  // namespace

CurrentSession current_session() { return t_session; }

SessionScope::SessionScope(const void* handle, trace::SessionApi api) : outermost_(t_session.handle == 0) {
  if (outermost_) t_session = {reinterpret_cast<uint64_t>(handle), api};
}

SessionScope::~SessionScope() {
  if (outermost_) t_session = {};
}

}  // namespace connleak::shim
