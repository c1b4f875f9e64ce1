#include "stack_table.h"

#include "site_table.h"

#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "config.h"
#include "dl_errors.h"
#include "errno_keeper.h"
#include "loaded_objects.h"
#include "module_map.h"
#include "real_functions.h"
#include "shim_log.h"
#include "trace_writer.h"
#include "unwind_stacks.h"
#include "user_memory.h"

namespace connleak::shim {
namespace {

__attribute__((tls_model("initial-exec"))) thread_local bool t_in_unwinder = false;

// libunwind, opened privately: its symbols stay out of the global scope.
struct Libunwind {
  int (*backtrace)(void**, int) = nullptr;
  int (*set_caching_policy)(unw_addr_space_t, unw_caching_policy_t) = nullptr;
  int (*getcontext)(unw_context_t*) = nullptr;
  int (*init_local)(unw_cursor_t*, unw_context_t*) = nullptr;
  unw_addr_space_t* local_addr_space = nullptr;
};
Libunwind g_libunwind;

bool load_libunwind() {
  void* handle = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (!handle) return false;
  g_libunwind.backtrace = reinterpret_cast<int (*)(void**, int)>(dlsym(handle, "unw_backtrace"));
  g_libunwind.set_caching_policy = reinterpret_cast<int (*)(unw_addr_space_t, unw_caching_policy_t)>(
      dlsym(handle, "_ULx86_64_set_caching_policy"));
  g_libunwind.local_addr_space = static_cast<unw_addr_space_t*>(dlsym(handle, "_ULx86_64_local_addr_space"));
  g_libunwind.getcontext = reinterpret_cast<int (*)(unw_context_t*)>(dlsym(handle, "_Ux86_64_getcontext"));
  g_libunwind.init_local = reinterpret_cast<int (*)(unw_cursor_t*, unw_context_t*)>(dlsym(handle, "_ULx86_64_init_local"));
  return g_libunwind.backtrace && g_libunwind.set_caching_policy && g_libunwind.local_addr_space &&
         g_libunwind.getcontext && g_libunwind.init_local;
}

// libunwind checks an address before reading it where unwind information
// may be wrong (CONSERVATIVE_CHECKS: every unw_step). Its own check writes a
// byte of the address into a pipe it keeps open; this one asks the kernel
// without an fd (user_memory.h), with the same per-thread cache of the last
// good pages.
constexpr uintptr_t kPage = 4096;
constexpr int kGoodPages = 4;
__attribute__((tls_model("initial-exec"))) thread_local uintptr_t t_good_pages[kGoodPages];
__attribute__((tls_model("initial-exec"))) thread_local int t_next_good_page;

bool page_readable(uintptr_t page) {
  for (uintptr_t good : t_good_pages) {
    if (good == page) return true;
  }
  if (page == 0 || !readable(reinterpret_cast<const void*>(page), 8)) return false;
  t_good_pages[t_next_good_page] = page;
  t_next_good_page = (t_next_good_page + 1) % kGoodPages;
  return true;
}

int access_memory(unw_addr_space_t, unw_word_t address, unw_word_t* value, int write, void* arg) {
  if (write) {
    *reinterpret_cast<unw_word_t*>(address) = *value;
    return 0;
  }
  bool validate = uintptr_t(arg) & 1;  // how libunwind 1.6 tags its cursor argument
  if (validate) {
    uintptr_t first = address & ~(kPage - 1), last = (address + sizeof(unw_word_t) - 1) & ~(kPage - 1);
    if (!page_readable(first) || (last != first && !page_readable(last))) return -1;
  }
  *value = *reinterpret_cast<const unw_word_t*>(address);
  return 0;
}

int unwind(void** frames, int max) {
  t_in_unwinder = true;
  int n = g_libunwind.backtrace(frames, max);
  t_in_unwinder = false;
  return n;
}

void pause_briefly() {
  timespec pause{0, 100 * 1000};
  nanosleep(&pause, nullptr);
}

uint64_t hash_frames(const uint64_t* ips, int depth) {
  uint64_t h = 0xcbf29ce484222325ull ^ uint64_t(depth);
  for (int i = 0; i < depth; ++i) {
    h ^= ips[i];
    h *= 0x100000001b3ull;
    h ^= h >> 29;
  }
  return h | 1;  // 0 marks an empty slot
}

// How long a new unwind waits for a fork in progress, and a fork for the
// unwinds in progress (each takes microseconds). Bounded, so a thread that
// holds a lock some fork handler needs cannot deadlock with the fork.
constexpr int kWaitRounds = 500;  // x 100 us

// Loads libunwind and makes it ready; false when it cannot (stacks off).
// errno and the program's dlerror() message are kept.
bool load_and_initialise() {
  ErrnoKeeper keep_errno;
  DlErrorKeeper keep_dlerror;
  bool ok = load_libunwind();
  if (!ok) {
    warn("cannot load libunwind (%s); events are recorded without stacks", connleak::real::dlerror()());
  } else {
    // A per-thread cache of unwind information: no lock shared by threads.
    // Initialising a cursor initialises libunwind (its pipe2() is refused
    // then) without unwinding: an unwind before the memory check below is
    // in place would fail, and libunwind would remember that for this
    // thread and leave its fast path for good.
    g_libunwind.set_caching_policy(*g_libunwind.local_addr_space, UNW_CACHE_PER_THREAD);
    unw_context_t context;
    unw_cursor_t cursor;
    g_libunwind.getcontext(&context);
    g_libunwind.init_local(&cursor, &context);
    // The address space's accessors are the first member of its
    // (initialised) structure: reads go through the check above from now on.
    reinterpret_cast<unw_accessors_t*>(*g_libunwind.local_addr_space)->access_mem = access_memory;
  }
  return ok;
}

}  // namespace

bool inside_unwinder() { return t_in_unwinder; }

// What a capture on the unwind stack needs and gives back.
struct StackTable::Capture {
  StackTable* table;
  TraceWriter* writer;
  ModuleMap* modules;
  uint32_t id;
};

void StackTable::configure(int depth, uintptr_t shim_low, uintptr_t shim_high) {
  depth_ = depth;
  shim_low_ = shim_low;
  shim_high_ = shim_high;
}

StackTable::Slot* StackTable::slots() {
  Slot* table = slots_.load(std::memory_order_acquire);
  if (table) return table;
  // Zero-filled pages, touched only as slots are used.
  void* p = mmap(nullptr, sizeof(Slot) * kSlots, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if (!slots_.compare_exchange_strong(table, static_cast<Slot*>(p))) {
    munmap(p, sizeof(Slot) * kSlots);
    return table;
  }
  return static_cast<Slot*>(p);
}

bool StackTable::enter_unwinder() {
  for (int round = 0; round < kWaitRounds; ++round) {
    if (!fork_pending_.load(std::memory_order_seq_cst)) {
      unwinding_.fetch_add(1, std::memory_order_seq_cst);
      if (!fork_pending_.load(std::memory_order_seq_cst)) return true;
      unwinding_.fetch_sub(1, std::memory_order_seq_cst);
    }
    pause_briefly();
  }
  return false;
}

void StackTable::leave_unwinder() { unwinding_.fetch_sub(1, std::memory_order_seq_cst); }

bool StackTable::loaded() {
  int state = unwinder_.load(std::memory_order_acquire);
  if (state == kNotLoaded && loader_usable()) {
    // From before the claim: a pipe asked for while loading is libunwind's,
    // and a signal handler's event meanwhile takes no stack (it cannot wait
    // for its own thread's load).
    t_in_unwinder = true;
    if (unwinder_.compare_exchange_strong(state, kLoading)) {
      state = load_and_initialise() ? kReady : kUnavailable;
      unwinder_.store(state, std::memory_order_release);
    }
    t_in_unwinder = false;
  }
  // Another thread is loading it (a fraction of a millisecond).
  for (int round = 0; state == kLoading && round < kWaitRounds; ++round) {
    pause_briefly();
    state = unwinder_.load(std::memory_order_acquire);
  }
  return state == kReady;
}

void StackTable::prepare() {
  if (depth_ == 0 || unwinder_.load(std::memory_order_acquire) != kNotLoaded) return;
  if (t_in_unwinder || unwinder_unsafe_.load(std::memory_order_relaxed) || !enter_unwinder()) return;
  call_on_unwind_stack(load_on_own_stack, this);
  leave_unwinder();
}

void StackTable::load_on_own_stack(void* table) { static_cast<StackTable*>(table)->loaded(); }

uint32_t StackTable::capture_now(TraceWriter& writer, ModuleMap& modules) {
  // A signal handler that interrupted this thread's unwind: libunwind's
  // per-thread state is in use. A fork child whose parent could not drain:
  // a lock inside libunwind may be held by a thread that is gone.
  if (t_in_unwinder || unwinder_unsafe_.load(std::memory_order_relaxed) || !enter_unwinder()) {
    omitted_.fetch_add(1, std::memory_order_relaxed);
    return trace::kNoStack;
  }
  Capture capture{this, &writer, &modules, trace::kNoStack};
  if (!call_on_unwind_stack(capture_on_own_stack, &capture)) omitted_.fetch_add(1, std::memory_order_relaxed);
  leave_unwinder();
  return capture.id;
}

// Runs on a stack of the pool: the unwind, and the first write of a new
// stack (which may scan the loaded modules).
void StackTable::capture_on_own_stack(void* argument) {
  auto& capture = *static_cast<Capture*>(argument);
  StackTable& table = *capture.table;
  if (!table.loaded()) {
    if (table.unwinder_.load(std::memory_order_relaxed) != kUnavailable) table.omitted_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  void* frames[kMaxStackDepth + 16];
  int n = unwind(frames, table.depth_ + 16);
  // Cut the shim's own frames: the wrapper, the tracker, this function, the
  // stack switch, and wrappers further down (libcurl calling its own
  // curl_multi_perform).
  uint64_t ips[kMaxStackDepth];
  int depth = 0;
  for (int i = 0; i < n && depth < table.depth_; ++i) {
    auto ip = uintptr_t(frames[i]);
    if (ip >= table.shim_low_ && ip < table.shim_high_) continue;
    ips[depth++] = uint64_t(ip);
  }
  capture.id = table.intern(*capture.writer, ips, depth, capture.modules);
}

uint32_t StackTable::intern(TraceWriter& writer, const uint64_t* ips, int depth, ModuleMap* modules) {
  uint64_t hash = hash_frames(ips, depth);
  Slot* table = slots();
  for (int probe = 0; table && probe < kProbes; ++probe) {
    Slot& slot = table[(hash + uint64_t(probe)) & (kSlots - 1)];
    uint64_t seen = slot.hash.load(std::memory_order_acquire);
    if (seen == 0 && slot.hash.compare_exchange_strong(seen, hash, std::memory_order_acq_rel)) {
      if (modules) modules->cover(writer, ips, depth);  // a new stack may hold a new library
      uint32_t id = write_stack(writer, ips, depth);
      slot.id.store(id, std::memory_order_release);
      return id;
    }
    if (seen == hash) {
      uint32_t id = slot.id.load(std::memory_order_acquire);
      if (id != 0) return id;
      break;  // being written by another thread right now: write our own copy
    }
  }
  if (modules) modules->cover(writer, ips, depth);
  return write_stack(writer, ips, depth);
}

uint32_t StackTable::write_stack(TraceWriter& writer, const uint64_t* ips, int depth) {
  auto* record = writer.reserve<trace::Stack>(sizeof(uint64_t) * size_t(depth));
  if (!record) return trace::kNoStack;
  uint32_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  record->id = id;
  record->depth = uint32_t(depth);
  memcpy(record + 1, ips, sizeof(uint64_t) * size_t(depth));
  writer.publish(record, trace::RecordType::kStack);
  if (SiteEntry* entry = sites_ ? sites_->entry(id) : nullptr)
    entry->stack_ref.store(writer.ref_of(record), std::memory_order_release);
  return id;
}

// No other thread may be inside libunwind when the address space is copied:
// a lock it holds would stay held in the child forever. This thread's own
// unwind, if fork() runs in a signal handler that interrupted it, holds no
// lock: libunwind blocks every signal while it holds one.
void StackTable::before_fork() {
  fork_pending_.store(true, std::memory_order_seq_cst);
  int own = t_in_unwinder ? 1 : 0;
  fork_drained_ = false;
  for (int round = 0; round < kWaitRounds && !fork_drained_; ++round) {
    fork_drained_ = unwinding_.load(std::memory_order_seq_cst) <= own;
    if (!fork_drained_) pause_briefly();
  }
}

void StackTable::after_fork_in_parent() { fork_pending_.store(false, std::memory_order_seq_cst); }

void StackTable::after_fork_in_child() {
  if (!fork_drained_) unwinder_unsafe_.store(true, std::memory_order_relaxed);
  unwinding_.store(t_in_unwinder ? 1 : 0, std::memory_order_relaxed);
  omitted_.store(0, std::memory_order_relaxed);
  fork_pending_.store(false, std::memory_order_seq_cst);
}

}  // namespace connleak::shim
