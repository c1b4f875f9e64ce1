// Interposed session APIs: libcurl, OpenSSL, and the connleak.h
// annotations. The shim links neither library: these definitions only come
// into play when the program itself uses libcurl or OpenSSL, and forward to
// the definition the caller would have reached (real_functions.h), also when
// the library sits in a plugin's local scope. A socket made inside a
// session's call belongs to that session (SessionScope).
#include "hook_support.h"
#include "session_scope.h"

using namespace connleak::shim;
using Api = connleak::trace::SessionApi;
using Event = connleak::trace::SessionEventType;

namespace {

void began(const void* handle, Api api, const char* kind = nullptr) {
  if (handle && tracing()) {
    ErrnoKeeper keep;
    tracker().on_session_begin(handle, api, kind);
  }
}

void event(const void* handle, Api api, Event type, const void* other = nullptr) {
  // Inside a session call, the library manages its own references and
  // helper objects; only the program's own calls count.
  if (inside_session_call()) return;
  if (handle && tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_session_event(handle, api, type, other);
  }
}

// A session constructor: the real call runs inside a constructing scope (so
// the library's own helper objects are not recorded), then the new session
// is, unless a session library itself asked for it: libcurl makes easy
// handles for its own use inside curl_share_setopt and other calls that are
// no session calls, and those are not the program's sessions.
template <class Real, class... Args>
auto construct(Api api, const void* caller, Real real_constructor, Args... args) {
  decltype(real_constructor(args...)) handle;
  {
    SessionScope constructing(api);
    handle = real_constructor(args...);
  }
  if (!real::called_from_library(caller)) began(handle, api);
  return handle;
}

}  // namespace

// libcurl easy handles ------------------------------------------------------

CONNLEAK_EXPORT CURL* curl_easy_init() {
  return construct(Api::kCurlEasy, __builtin_return_address(0), real::curl_easy_init());
}

CONNLEAK_EXPORT CURL* curl_easy_duphandle(CURL* from) {
  return construct(Api::kCurlEasy, __builtin_return_address(0), real::curl_easy_duphandle(), from);
}

CONNLEAK_EXPORT void curl_easy_cleanup(CURL* handle) {
  event(handle, Api::kCurlEasy, Event::kEnd);  // before: the address may be reused after
  SessionScope destroying(Api::kCurlEasy);
  real::curl_easy_cleanup()(handle);
}

CONNLEAK_EXPORT void curl_easy_reset(CURL* handle) {
  real::curl_easy_reset()(handle);
  event(handle, Api::kCurlEasy, Event::kReset);
}

// A transfer completes when curl_easy_perform returns, whatever its result.
CONNLEAK_EXPORT CURLcode curl_easy_perform(CURL* handle) {
  auto real_perform = real::curl_easy_perform();
  CURLcode result;
  {
    SessionScope scope(handle, Api::kCurlEasy);
    result = real_perform(handle);
  }
  event(handle, Api::kCurlEasy, Event::kTransferDone);
  return result;
}

// libcurl multi and share handles --------------------------------------------

CONNLEAK_EXPORT CURLM* curl_multi_init() {
  // It makes an easy handle and a socketpair of its own.
  return construct(Api::kCurlMulti, __builtin_return_address(0), real::curl_multi_init());
}

CONNLEAK_EXPORT CURLMcode curl_multi_cleanup(CURLM* handle) {
  event(handle, Api::kCurlMulti, Event::kEnd);
  SessionScope destroying(Api::kCurlMulti);
  return real::curl_multi_cleanup()(handle);
}

CONNLEAK_EXPORT CURLMcode curl_multi_add_handle(CURLM* multi, CURL* easy) {
  CURLMcode result = real::curl_multi_add_handle()(multi, easy);
  if (result == CURLM_OK) event(easy, Api::kCurlEasy, Event::kJoined, multi);
  return result;
}

CONNLEAK_EXPORT CURLMcode curl_multi_remove_handle(CURLM* multi, CURL* easy) {
  CURLMcode result = real::curl_multi_remove_handle()(multi, easy);
  if (result == CURLM_OK) event(easy, Api::kCurlEasy, Event::kLeft, multi);
  return result;
}

// Connections made while the multi handle drives its transfers are its own.
CONNLEAK_EXPORT CURLMcode curl_multi_perform(CURLM* multi, int* running) {
  auto real_perform = real::curl_multi_perform();
  SessionScope scope(multi, Api::kCurlMulti);
  return real_perform(multi, running);
}

CONNLEAK_EXPORT CURLMcode curl_multi_socket_action(CURLM* multi, curl_socket_t socket, int mask, int* running) {
  auto real_action = real::curl_multi_socket_action();
  SessionScope scope(multi, Api::kCurlMulti);
  return real_action(multi, socket, mask, running);
}

CONNLEAK_EXPORT CURLMsg* curl_multi_info_read(CURLM* multi, int* queued) {
  CURLMsg* message = real::curl_multi_info_read()(multi, queued);
  // curl_easy_perform reads its own private multi handle: its return counts.
  bool inside_easy_perform = current_session().handle != 0;
  if (message && message->msg == CURLMSG_DONE && !inside_easy_perform) {
    event(message->easy_handle, Api::kCurlEasy, Event::kTransferDone);
  }
  return message;
}

CONNLEAK_EXPORT CURLSH* curl_share_init() {
  return construct(Api::kCurlShare, __builtin_return_address(0), real::curl_share_init());
}

CONNLEAK_EXPORT CURLSHcode curl_share_cleanup(CURLSH* handle) {
  auto real_cleanup = real::curl_share_cleanup();
  CURLSHcode result;
  {
    SessionScope destroying(Api::kCurlShare);
    result = real_cleanup(handle);
  }
  if (result == CURLSHE_OK) event(handle, Api::kCurlShare, Event::kEnd);  // fails while still in use
  return result;
}

// OpenSSL --------------------------------------------------------------------

CONNLEAK_EXPORT SSL_CTX* SSL_CTX_new(const SSL_METHOD* method) {
  // It calls SSL_CTX_new_ex.
  return construct(Api::kOpensslCtx, __builtin_return_address(0), real::SSL_CTX_new(), method);
}

CONNLEAK_EXPORT SSL_CTX* SSL_CTX_new_ex(OSSL_LIB_CTX* library, const char* properties, const SSL_METHOD* method) {
  return construct(Api::kOpensslCtx, __builtin_return_address(0), real::SSL_CTX_new_ex(), library, properties, method);
}

// SSL_CTX is reference-counted: the program's own up_ref/free pairs decide.
CONNLEAK_EXPORT int SSL_CTX_up_ref(SSL_CTX* ctx) {
  int result = real::SSL_CTX_up_ref()(ctx);
  if (result == 1) event(ctx, Api::kOpensslCtx, Event::kAddRef);
  return result;
}

CONNLEAK_EXPORT void SSL_CTX_free(SSL_CTX* ctx) {
  event(ctx, Api::kOpensslCtx, Event::kRelease);
  SessionScope destroying(Api::kOpensslCtx);
  real::SSL_CTX_free()(ctx);
}

CONNLEAK_EXPORT SSL* SSL_new(SSL_CTX* ctx) {
  // It takes a reference on ctx.
  return construct(Api::kOpensslSsl, __builtin_return_address(0), real::SSL_new(), ctx);
}

CONNLEAK_EXPORT void SSL_free(SSL* ssl) {
  event(ssl, Api::kOpensslSsl, Event::kEnd);
  SessionScope destroying(Api::kOpensslSsl);  // it drops its reference on the SSL_CTX
  real::SSL_free()(ssl);
}

CONNLEAK_EXPORT int SSL_set_fd(SSL* ssl, int fd) {
  int result = real::SSL_set_fd()(ssl, fd);
  if (result == 1 && tracing_started()) {
    ErrnoKeeper keep;
    tracker().on_socket_owner(fd, ssl, Api::kOpensslSsl);
  }
  return result;
}

CONNLEAK_EXPORT int SSL_shutdown(SSL* ssl) {
  int result = real::SSL_shutdown()(ssl);
  event(ssl, Api::kOpensslSsl, Event::kShutdown);
  return result;
}

// connleak.h annotations ------------------------------------------------------

CONNLEAK_EXPORT void connleak_session_begin(const char* kind, const void* handle) {
  began(handle, Api::kUser, kind ? kind : "session");
}

CONNLEAK_EXPORT void connleak_session_transfer_done(const void* handle) {
  event(handle, Api::kUser, Event::kTransferDone);
}

CONNLEAK_EXPORT void connleak_session_end(const void* handle) { event(handle, Api::kUser, Event::kEnd); }
