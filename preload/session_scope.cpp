#include "session_scope.h"

namespace connleak::shim {
namespace {

constexpr int kMaxPending = 8;

__attribute__((tls_model("initial-exec"))) thread_local int t_pending[kMaxPending];
__attribute__((tls_model("initial-exec"))) thread_local int t_pending_count = 0;

}  // namespace

__attribute__((tls_model("initial-exec"))) thread_local CurrentSession t_session;

SessionScope::SessionScope(const void* handle, trace::SessionApi api) : outermost_(t_session.handle == 0) {
  if (outermost_) {
    t_session = {reinterpret_cast<uint64_t>(handle), api};
    t_pending_count = 0;
  }
}

SessionScope::~SessionScope() {
  if (outermost_) t_session = {};
}

void add_pending_fd(int fd) {
  if (t_pending_count < kMaxPending) t_pending[t_pending_count++] = fd;
}

int take_pending_fds(int* out, int max) {
  int n = t_pending_count < max ? t_pending_count : max;
  for (int i = 0; i < n; ++i) out[i] = t_pending[i];
  t_pending_count = 0;
  return n;
}

}  // namespace connleak::shim
