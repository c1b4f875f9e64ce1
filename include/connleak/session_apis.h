// What reports call each session API (trace::SessionApi): its "api" value in
// JSON, and the call that invalidates its sessions. The shim's description
// of each API is preload/sessions/session_apis.def.
#pragma once

#include <string_view>

#include "connleak/trace_format.h"

namespace connleak {

struct SessionApiNames {
  trace::SessionApi api;
  std::string_view name;         // JSON "api" (kUser: "user:<kind>")
  std::string_view invalidator;  // what the program must call
};

inline constexpr SessionApiNames kSessionApis[] = {
    {trace::SessionApi::kCurlEasy, "curl_easy", "curl_easy_cleanup"},
    {trace::SessionApi::kCurlMulti, "curl_multi", "curl_multi_cleanup"},
    {trace::SessionApi::kCurlShare, "curl_share", "curl_share_cleanup"},
    {trace::SessionApi::kOpensslSsl, "openssl_ssl", "SSL_free"},
    {trace::SessionApi::kOpensslCtx, "openssl_ctx", "SSL_CTX_free"},
    {trace::SessionApi::kUser, "user", "connleak_session_end"},
    {trace::SessionApi::kLibpq, "libpq", "PQfinish"},
    {trace::SessionApi::kMysql, "mysql", "mysql_close"},
    {trace::SessionApi::kHiredis, "hiredis", "redisFree or redisAsyncFree"},
    {trace::SessionApi::kGnutls, "gnutls_session", "gnutls_deinit"},
    {trace::SessionApi::kLibssh2, "libssh2", "libssh2_session_free"},
};

// nullptr for an api this build does not know (a newer trace).
inline const SessionApiNames* session_api_names(trace::SessionApi api) {
  for (const auto& names : kSessionApis)
    if (names.api == api) return &names;
  return nullptr;
}

// The invalidator of the api named `name` ("connleak_session_end" for user
// kinds and unknown names).
inline std::string_view session_invalidator(std::string_view name) {
  for (const auto& names : kSessionApis)
    if (names.name == name) return names.invalidator;
  return "connleak_session_end";
}

}  // namespace connleak
