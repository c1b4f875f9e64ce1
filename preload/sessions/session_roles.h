// The vocabulary of session_apis.def: what one call of a session API does to
// its session. Each role is a struct whose call(caller, real, args...) calls
// the real function exactly as the program asked, returns its result, and
// tells the tracker what happened. The session's handle is the call's first
// argument unless the role says otherwise.
//
// Inside a session's call the library manages its own objects: sessions it
// makes there are not recorded (constructors and destructors run in a
// kConstructing scope), its own calls of session functions record nothing,
// and sockets made there belong to the session (SessionScope).
#pragma once

#include <stdint.h>

#include <tuple>
#include <type_traits>

#include "hook_support.h"
#include "session_scope.h"

namespace connleak::shim::sessions {

using Api = trace::SessionApi;
using Event = trace::SessionEventType;

// What a result must be for the role's record to be made.
struct Always {
  template <class R>
  static bool holds(const R&) { return true; }
};
struct ReturnsZero {  // CURLM_OK, CURLSHE_OK, mysql_real_query, gnutls_init
  template <class R>
  static bool holds(R r) { return r == 0; }
};
struct ReturnsOne {  // OpenSSL's success
  template <class R>
  static bool holds(R r) { return r == 1; }
};
struct ReturnsNonNull {
  template <class R>
  static bool holds(R r) { return r != nullptr; }
};
struct ReturnsNull {  // PQgetResult: every result consumed
  template <class R>
  static bool holds(R r) { return r == nullptr; }
};

// The tracker calls every role makes (session_roles.cpp).
void record_begin(const void* handle, Api api, const char* kind = nullptr);
// Not from inside a session's call: the library's own business.
void record_event(const void* handle, Api api, Event type, const void* other = nullptr);
// `fd` belongs to the session from now on; inside another session's call the
// socket is that session's already.
void record_owner(intptr_t fd, const void* handle, Api api);

// A socket argument as an fd: an int, or a pointer that carries one
// (gnutls_transport_set_ptr((gnutls_transport_ptr_t)(long)fd)).
template <class T>
intptr_t as_fd(T value) {
  if constexpr (std::is_pointer_v<T>) return reinterpret_cast<intptr_t>(value);
  else return intptr_t(value);
}

// Calls real(args...), then after(Ok::holds(result)); returns the result.
template <class Ok, class Real, class After, class... Args>
auto call_then(Real real, After after, Args... args) {
  if constexpr (std::is_void_v<decltype(real(args...))>) {
    real(args...);
    after(true);
  } else {
    auto result = real(args...);
    after(Ok::holds(result));
    return result;
  }
}

// Returns a new session's handle, made where the caller asked. One that a
// session library asks for (libcurl makes easy handles for itself inside
// calls that are no session calls) is that library's.
template <Api A>
struct Constructor {
  template <class Real, class... Args>
  static auto call(const void* caller, Real real, Args... args) {
    decltype(real(args...)) handle;
    {
      SessionScope constructing(A);
      handle = real(args...);
    }
    if (!real::called_from_library(caller)) record_begin(handle, A);
    return handle;
  }
};

// Stores the new session's handle at its first argument and returns 0 on
// success (gnutls_init).
template <Api A>
struct ConstructorThroughPointer {
  template <class Real, class Handle, class... Args>
  static auto call(const void* caller, Real real, Handle* out, Args... args) {
    decltype(real(out, args...)) result;
    {
      SessionScope constructing(A);
      result = real(out, args...);
    }
    if (result == 0 && out && !real::called_from_library(caller)) record_begin(*out, A);
    return result;
  }
};

// Ends the session (or, with kRelease, drops one reference); recorded before
// the call, since the address may be reused by the time it returns.
template <Api A, Event E = Event::kEnd>
struct Destructor {
  template <class Real, class Handle, class... Args>
  static auto call(const void*, Real real, Handle handle, Args... args) {
    record_event(handle, A, E);
    SessionScope destroying(A);
    return real(handle, args...);
  }
};

// A destructor that refuses while the session is in use (curl_share_cleanup):
// recorded after, when it succeeded.
template <Api A, class Ok>
struct RefusingDestructor {
  template <class Real, class Handle, class... Args>
  static auto call(const void*, Real real, Handle handle, Args... args) {
    decltype(real(handle, args...)) result;
    {
      SessionScope destroying(A);
      result = real(handle, args...);
    }
    if (Ok::holds(result)) record_event(handle, A, Event::kEnd);
    return result;
  }
};

// Runs inside the session's scope: a socket made there is the session's
// (connecting, reconnecting, driving transfers).
template <Api A>
struct Scoped {
  template <class Real, class Handle, class... Args>
  static auto call(const void*, Real real, Handle handle, Args... args) {
    SessionScope scope(handle, A);
    return real(handle, args...);
  }
};

// A scoped call that completes a transfer when its result says so.
template <Api A, class Done = Always>
struct Transfer {
  template <class Real, class Handle, class... Args>
  static auto call(const void*, Real real, Handle handle, Args... args) {
    auto scoped = [real](Handle h, Args... a) {
      SessionScope scope(h, A);
      return real(h, a...);
    };
    return call_then<Done>(scoped, [handle](bool done) { if (done) record_event(handle, A, Event::kTransferDone); },
                           handle, args...);
  }
};

// Records event E on the session once the call succeeded.
template <Api A, Event E, class Ok = Always>
struct Notifies {
  template <class Real, class Handle, class... Args>
  static auto call(const void*, Real real, Handle handle, Args... args) {
    return call_then<Ok>(real, [handle](bool ok) { if (ok) record_event(handle, A, E); }, handle, args...);
  }
};

// Like Notifies, for a session that is the second argument and joins or
// leaves the first (curl_multi_add_handle(multi, easy)).
template <Api A, Event E, class Ok = Always>
struct NotifiesMember {
  template <class Real, class Container, class Handle, class... Args>
  static auto call(const void*, Real real, Container container, Handle handle, Args... args) {
    return call_then<Ok>(real, [=](bool ok) { if (ok) record_event(handle, A, E, container); }, container, handle,
                         args...);
  }
};

// Hands the session the sockets at argument positions Fds... (SSL_set_fd,
// gnutls_transport_set_int2).
template <Api A, class Ok, int... Fds>
struct BindsSockets {
  template <class Real, class Handle, class... Args>
  static auto call(const void*, Real real, Handle handle, Args... args) {
    auto bind = [=](bool ok) {
      if (!ok) return;
      std::tuple<Handle, Args...> all{handle, args...};
      (record_owner(as_fd(std::get<Fds>(all)), handle, A), ...);
    };
    return call_then<Ok>(real, bind, handle, args...);
  }
};

}  // namespace connleak::shim::sessions
