#include "loaded_objects.h"

#include <dlfcn.h>
#include <sys/single_threaded.h>

#include <atomic>

#include "real_functions.h"
#include "user_memory.h"

namespace connleak::shim {
namespace {

bool g_parent_had_threads = false;
std::atomic<bool> g_loader_lock_unsafe{false};
// glibc's __libc_single_threaded stays false in the child of a threaded
// parent, so thread creation is watched here (pthread_create hook).
std::atomic<bool> g_threads_since_fork{false};

// The objects loaded when the fork happened, taken under the loader's lock
// in the prepare handler: the live list may be half-changed in the child.
constexpr int kSnapshotObjects = 1024;
dl_phdr_info g_snapshot[kSnapshotObjects];
int g_snapshot_count = 0;

int remember_object(dl_phdr_info* info, size_t, void*) {
  if (g_snapshot_count == kSnapshotObjects) return 1;
  g_snapshot[g_snapshot_count] = {};
  g_snapshot[g_snapshot_count].dlpi_addr = info->dlpi_addr;
  g_snapshot[g_snapshot_count].dlpi_name = info->dlpi_name;
  g_snapshot[g_snapshot_count].dlpi_phdr = info->dlpi_phdr;
  g_snapshot[g_snapshot_count].dlpi_phnum = info->dlpi_phnum;
  ++g_snapshot_count;
  return 0;
}

// An object another thread unloaded between the copy and the fork is gone
// from the child's memory: dlclose unmaps an object in one call, so its
// program headers tell.
int iterate_snapshot(ObjectVisitor visit, void* data) {
  int result = 0;
  for (int i = 0; i < g_snapshot_count && result == 0; ++i) {
    dl_phdr_info& info = g_snapshot[i];
    if (!readable(info.dlpi_phdr, sizeof(*info.dlpi_phdr) * info.dlpi_phnum)) continue;
    result = visit(&info, sizeof(info), data);
  }
  return result;
}

}  // namespace

// Without the lock only while the child has no thread of its own that
// could change the list.
int iterate_loaded_objects(ObjectVisitor visit, void* data) {
  if (g_loader_lock_unsafe.load(std::memory_order_relaxed) && !g_threads_since_fork.load(std::memory_order_acquire)) {
    return iterate_snapshot(visit, data);
  }
  return real::dl_iterate_phdr()(visit, data);
}

void note_fork_prepare() {
  g_parent_had_threads = !__libc_single_threaded;
  if (!g_parent_had_threads) return;
  g_snapshot_count = 0;
  real::dl_iterate_phdr()(remember_object, nullptr);
}

void note_fork_child() {
  if (g_parent_had_threads) g_loader_lock_unsafe.store(true, std::memory_order_relaxed);
  g_threads_since_fork.store(false, std::memory_order_release);
}

void note_thread_created() { g_threads_since_fork.store(true, std::memory_order_release); }

bool loader_usable() { return !g_loader_lock_unsafe.load(std::memory_order_relaxed); }

}  // namespace connleak::shim
