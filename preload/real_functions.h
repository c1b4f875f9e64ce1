// The real functions behind every wrapper, found by one rule: the call
// reaches the definition its caller would have reached without the shim.
//  1. The next definition in the global scope (dlsym(RTLD_NEXT)): libc's,
//     or a library the program loaded globally. The global scope is searched
//     first for every caller, so this answer holds for all of them and is
//     cached once per hook.
//  2. Otherwise the caller's own local scope: a library loaded with
//     dlopen(RTLD_LOCAL) (an interpreter's extension module, a plugin) whose
//     dependency defines the function. Cached per (hook, calling object).
// A call that no definition can answer is what the dynamic linker calls a
// symbol lookup error; the shim ends the process the same way, rather than
// invent a result. Resolution is lazy, so calls made before the shim's
// constructor ran work too.
#pragma once

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <threads.h>
#include <unistd.h>

// Exported by libc, declared by no header (bsd_signal: only for X/Open
// before 2008).
extern "C" int __sigaction(int signal, const struct sigaction* action, struct sigaction* old);
extern "C" __sighandler_t bsd_signal(int signal, __sighandler_t handler);
// sigset is deprecated, and interposed all the same: programs still call it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

// Declarations only: the shim links no session library.
#include "sessions/session_headers.h"

// libc's dlsym (found once with dlvsym), for the shim's dlsym entry point.
extern "C" __attribute__((visibility("hidden"))) void* connleak_resolve_real_dlsym();

namespace connleak::real {

enum class Hook : int {
#define CONNLEAK_HOOK(name) name,
#include "hooks.def"
#undef CONNLEAK_HOOK
  kCount
};

// Rules 1 and 2 above for `caller` (an address in the calling object).
void* resolve(Hook hook, const char* name, const void* caller);
// A library was unloaded: forget what was found in library scopes.
void forget_library_functions();
// What a lookup by name reaches besides the shim: the global scope after
// it, then (with a caller) the caller's own dependencies; nullptr if
// nothing (for dlsym, hooks_dl.cpp). Not cached, never ends the process.
void* find_definition(const char* name, const void* caller);
// libc's dlsym, called from the shim (so RTLD_NEXT means "after the shim").
void* real_dlsym(void* handle, const char* name);
// Whether `caller` is code of a library the session hooks forward to
// (libcurl, libssl, ...): what it creates is the library's own business.
bool called_from_library(const void* caller);
// Whether the address is in the shim's own code.
bool inside_shim(const void* address);

// The global-scope results, nullptr until first found. Read them directly
// only where even the accessor's branch costs too much (an I/O hook's tail
// call); everywhere else, call the accessor below. (__atomic builtins, not
// std::atomic: libc's declarations carry attributes that a template argument
// would drop.)
namespace pointer {
#define CONNLEAK_HOOK(name) inline decltype(&::name) name = nullptr;
#include "hooks.def"
#undef CONNLEAK_HOOK
}  // namespace pointer

// One accessor per hook: real::socket() returns the function the wrapper's
// caller would have reached. The default argument is evaluated in the
// wrapper, so `caller` is the wrapper's return address; code that calls an
// accessor from a lambda or helper passes the wrapper's caller explicitly.
#define CONNLEAK_HOOK(name)                                                          \
  inline decltype(&::name) name(const void* caller = __builtin_return_address(0)) { \
    auto f = __atomic_load_n(&pointer::name, __ATOMIC_ACQUIRE);                      \
    if (__builtin_expect(f != nullptr, 1)) return f;                                 \
    return reinterpret_cast<decltype(&::name)>(resolve(Hook::name, #name, caller));  \
  }
#include "hooks.def"
#undef CONNLEAK_HOOK

}  // namespace connleak::real

#pragma GCC diagnostic pop
