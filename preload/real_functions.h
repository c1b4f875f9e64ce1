// Pointers to the real (next) definitions of every hooked function, resolved
// lazily with dlsym(RTLD_NEXT) so that calls made before the shim's
// constructor ran still work.
#pragma once

#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

// Declarations only: the shim does not link libcurl or OpenSSL.
#include <curl/curl.h>
#include <openssl/ssl.h>


namespace connleak::real {

void* resolve(const char* name);

// The resolved pointers, nullptr until first use. Read them directly only
// where even the accessor's lazy-resolution branch costs too much (an I/O
// hook's tail call); everywhere else, call the accessor below.
// (__atomic builtins, not std::atomic: libc's declarations carry attributes
// that a template argument would drop.)
namespace pointer {
#define CONNLEAK_HOOK(name) inline decltype(&::name) name = nullptr;
#include "hooks.def"
#undef CONNLEAK_HOOK
}  // namespace pointer

// One accessor per hook: real::socket() returns the libc socket function.
// A function missing from this libc resolves to nullptr; callers handle that.
#define CONNLEAK_HOOK(name)                                                  \
  inline decltype(&::name) name() {                                          \
    auto f = __atomic_load_n(&pointer::name, __ATOMIC_ACQUIRE);              \
    if (__builtin_expect(f == nullptr, 0)) {                                 \
      f = reinterpret_cast<decltype(&::name)>(resolve(#name));               \
      __atomic_store_n(&pointer::name, f, __ATOMIC_RELEASE);                 \
    }                                                                        \
    return f;                                                                \
  }
#include "hooks.def"
#undef CONNLEAK_HOOK

}  // namespace connleak::real
