// Which session's API call the current thread is inside, so that a socket
// made there (curl_easy_perform connecting) is known to belong to it. Only
// the outermost call counts: libcurl calling OpenSSL stays libcurl's.
#pragma once

#include <cstdint>

#include "connleak/trace_format.h"

namespace connleak::shim {

struct CurrentSession {
  uint64_t handle = 0;  // 0: in no session's call
  trace::SessionApi api = trace::SessionApi::kCurlEasy;
};

CurrentSession current_session();

class SessionScope {
 public:
  SessionScope(const void* handle, trace::SessionApi api);
  ~SessionScope();
  SessionScope(const SessionScope&) = delete;
  SessionScope& operator=(const SessionScope&) = delete;

 private:
  bool outermost_;
};

}  // namespace connleak::shim
