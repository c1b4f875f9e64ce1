// Which session's API call the current thread is inside. A socket made there
// (curl_easy_perform connecting) belongs to that session, and sessions made
// there (libcurl's own SSL_CTX) are the library's business. Only the
// outermost call counts: libcurl calling OpenSSL stays libcurl's.
//
// While a constructor runs (curl_multi_init, SSL_new, ...) the new session's
// handle is not known yet: the scope is kConstructing, objects the library
// makes inside are not recorded at all, and new sockets wait until the
// handle is known (take_pending_fds).
#pragma once

#include <cstdint>

#include "connleak/trace_format.h"

namespace connleak::shim {

inline constexpr uint64_t kConstructing = 1;

struct CurrentSession {
  uint64_t handle = 0;  // 0: in no session's call; kConstructing
  trace::SessionApi api = trace::SessionApi::kCurlEasy;
};

// Read on every socket the program makes, so inline.
extern __attribute__((tls_model("initial-exec"))) thread_local CurrentSession t_session;
inline CurrentSession current_session() { return t_session; }
inline bool inside_session_call() { return current_session().handle != 0; }

class SessionScope {
 public:
  SessionScope(const void* handle, trace::SessionApi api);
  // A scope for a constructor or destructor of a session.
  explicit SessionScope(trace::SessionApi api) : SessionScope(reinterpret_cast<const void*>(kConstructing), api) {}
  ~SessionScope();
  SessionScope(const SessionScope&) = delete;
  SessionScope& operator=(const SessionScope&) = delete;

 private:
  bool outermost_;
};

// Sockets made inside a constructor, before its session's handle is known.
void add_pending_fd(int fd);
// Returns them (up to `max`) and forgets them.
int take_pending_fds(int* out, int max);

}  // namespace connleak::shim
