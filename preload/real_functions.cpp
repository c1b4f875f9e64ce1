#include "real_functions.h"

#include <link.h>
#include <sys/syscall.h>

#include <atomic>

#include "dl_errors.h"
#include "shim_log.h"

// libc's dlsym, which the shim's own dlsym (hooks_dl.cpp) forwards to.
// Found with dlvsym, which the shim does not interpose.
extern "C" {
__attribute__((visibility("hidden"))) void* connleak_real_dlsym = nullptr;
}

extern "C" __attribute__((visibility("hidden"))) void* connleak_resolve_real_dlsym() {
  void* f = __atomic_load_n(&connleak_real_dlsym, __ATOMIC_ACQUIRE);
  if (f) return f;
  for (const char* version : {"GLIBC_2.34", "GLIBC_2.2.5"}) {
    if ((f = dlvsym(RTLD_NEXT, "dlsym", version))) break;
  }
  __atomic_store_n(&connleak_real_dlsym, f, __ATOMIC_RELEASE);
  return f;
}

namespace connleak::real {

void* real_dlsym(void* handle, const char* name) {
  auto f = reinterpret_cast<void* (*)(void*, const char*)>(connleak_resolve_real_dlsym());
  return f(handle, name);
}

namespace {

// Where each hook's global-scope result is cached.
void** global_slot(Hook hook) {
  static void** const slots[] = {
#define CONNLEAK_HOOK(name) reinterpret_cast<void**>(&pointer::name),
#include "hooks.def"
#undef CONNLEAK_HOOK
  };
  return slots[int(hook)];
}

bool is_library_hook(Hook hook) {
  static const bool library[] = {
#define CONNLEAK_HOOK(name) false,
#define CONNLEAK_LIBRARY_HOOK(name) true,
#include "hooks.def"
#undef CONNLEAK_LIBRARY_HOOK
#undef CONNLEAK_HOOK
  };
  return library[int(hook)];
}

// The shim's own code: a definition found there is the wrapper itself.
}  // namespace

bool inside_shim(const void* address) {
  static dl_find_object self{};
  static std::atomic<bool> known{false};
  if (!known.load(std::memory_order_acquire)) {
    if (_dl_find_object(reinterpret_cast<void*>(&resolve), &self) != 0) return false;
    known.store(true, std::memory_order_release);
  }
  return address >= self.dlfo_map_start && address < self.dlfo_map_end;
}

namespace {

void* usable(void* f) { return f && !inside_shim(f) ? f : nullptr; }

// Results found in a library scope, per (hook, calling object). Entries are
// appended and published by their scope field; dlclose() empties the table.
struct LocalEntry {
  std::atomic<const void*> scope{nullptr};
  std::atomic<int> hook{-1};
  std::atomic<void*> function{nullptr};
};
constexpr int kLocalEntries = 256;
LocalEntry g_local[kLocalEntries];
std::atomic<int> g_local_used{0};

// The objects (libcurl, libssl, ...) that define library hooks found so far.
constexpr int kLibraryObjects = 32;
std::atomic<const void*> g_library_objects[kLibraryObjects];

void note_library_object(Hook hook, void* function) {
  if (!is_library_hook(hook)) return;
  dl_find_object found{};
  if (_dl_find_object(function, &found) != 0 || !found.dlfo_link_map) return;
  for (auto& slot : g_library_objects) {
    const void* seen = slot.load(std::memory_order_acquire);
    if (seen == found.dlfo_link_map) return;
    if (!seen && slot.compare_exchange_strong(seen, found.dlfo_link_map, std::memory_order_acq_rel)) return;
    if (seen == found.dlfo_link_map) return;
  }
}

void* cached_local(Hook hook, const void* scope) {
  int used = g_local_used.load(std::memory_order_acquire);
  for (int i = 0; i < used && i < kLocalEntries; ++i) {
    LocalEntry& entry = g_local[i];
    if (entry.scope.load(std::memory_order_acquire) == scope && entry.hook.load(std::memory_order_relaxed) == int(hook)) {
      return entry.function.load(std::memory_order_relaxed);
    }
  }
  return nullptr;
}

void remember_local(Hook hook, const void* scope, void* function) {
  int i = g_local_used.fetch_add(1, std::memory_order_acq_rel);
  if (i >= kLocalEntries) return;  // full: found again next time
  g_local[i].hook.store(int(hook), std::memory_order_relaxed);
  g_local[i].function.store(function, std::memory_order_relaxed);
  g_local[i].scope.store(scope, std::memory_order_release);
}

// The definition `object` reaches through its own dependencies: dlsym on a
// handle searches the object's search list, which the loader builds when
// the object is opened (RTLD_NOLOAD: nothing new is loaded, nothing runs).
// The main program's list is the global scope, already searched.
void* search_from(link_map* object, const char* name) {
  if (!object->l_name || !object->l_name[0] || inside_shim(reinterpret_cast<void*>(object->l_addr + 1))) return nullptr;
  void* handle = dlopen(object->l_name, RTLD_LAZY | RTLD_NOLOAD);
  if (!handle) return nullptr;
  void* f = usable(real_dlsym(handle, name));
  dlclose()(handle);
  return f;
}

link_map* object_of(const void* address) {
  dl_find_object found{};
  if (!address || _dl_find_object(const_cast<void*>(address), &found) != 0) return nullptr;
  return found.dlfo_link_map;
}

// A call whose return address is in the shim came from a library function
// the shim called that ended in a tail call (OpenSSL's SSL_CTX_new jumps to
// SSL_CTX_new_ex): the libraries the shim has called into, newest first.
void* search_libraries_called(const char* name) {
  int used = g_local_used.load(std::memory_order_acquire);
  for (int i = (used < kLocalEntries ? used : kLocalEntries) - 1; i >= 0; --i) {
    link_map* object = object_of(g_local[i].function.load(std::memory_order_relaxed));
    if (void* f = object ? search_from(object, name) : nullptr) return f;
  }
  return nullptr;
}

// An object that calls into a library it does not depend on itself (it
// relies on the library its loader brought in): any loaded object's
// definition, in load order.
void* search_every_object(link_map* start, const char* name) {
  link_map* object = start;
  while (object->l_prev) object = object->l_prev;
  for (; object; object = object->l_next) {
    if (void* f = search_from(object, name)) return f;
  }
  return nullptr;
}

void* resolve_in_library_scope(Hook hook, const char* name, const void* caller) {
  link_map* object = object_of(caller);
  if (!object) return nullptr;
  if (void* f = cached_local(hook, object)) return f;
  void* f = inside_shim(caller) ? search_libraries_called(name) : search_from(object, name);
  if (!f) f = search_every_object(object, name);
  if (f) {
    remember_local(hook, object, f);
    note_library_object(hook, f);
  }
  return f;
}

[[noreturn]] void symbol_lookup_error(const char* name, const void* caller) {
  Dl_info info{};
  const char* module = caller && dladdr(caller, &info) && info.dli_fname ? info.dli_fname : "?";
  shim::error("symbol lookup error: %s: no definition of the interposed function is reachable", module);
  shim::error("undefined symbol: %s", name);
  syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

}  // namespace

void* find_definition(const char* name, const void* caller) {
  if (void* f = usable(real_dlsym(RTLD_NEXT, name))) return f;
  link_map* object = caller ? object_of(caller) : nullptr;
  return object ? search_from(object, name) : nullptr;
}

namespace {

void* resolve_now(Hook hook, const char* name, const void* caller) {
  if (void* f = usable(real_dlsym(RTLD_NEXT, name))) {
    __atomic_store_n(global_slot(hook), f, __ATOMIC_RELEASE);
    note_library_object(hook, f);
    return f;
  }
  if (void* f = resolve_in_library_scope(hook, name, caller)) return f;
  symbol_lookup_error(name, caller);
}

}  // namespace

// The program's pending dlerror() message survives the look-up; not for
// dlerror itself, which the keeper calls.
void* resolve(Hook hook, const char* name, const void* caller) {
  if (hook == Hook::dlerror) return resolve_now(hook, name, caller);
  shim::DlErrorKeeper keep;
  return resolve_now(hook, name, caller);
}

bool called_from_library(const void* caller) {
  dl_find_object found{};
  if (!caller || _dl_find_object(const_cast<void*>(caller), &found) != 0) return false;
  for (auto& slot : g_library_objects) {
    const void* seen = slot.load(std::memory_order_acquire);
    if (!seen) return false;
    if (seen == found.dlfo_link_map) return true;
  }
  return false;
}

void forget_library_functions() {
  for (auto& slot : g_library_objects) slot.store(nullptr, std::memory_order_release);
  for (int hook = 0; hook < int(Hook::kCount); ++hook) {
    if (is_library_hook(Hook(hook))) __atomic_store_n(global_slot(Hook(hook)), nullptr, __ATOMIC_RELEASE);
  }
  int used = g_local_used.exchange(0, std::memory_order_acq_rel);
  for (int i = 0; i < used && i < kLocalEntries; ++i) g_local[i].scope.store(nullptr, std::memory_order_release);
}

}  // namespace connleak::real
