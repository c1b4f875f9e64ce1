#include "user_memory.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "errno_keeper.h"

namespace connleak::shim {
namespace {

constexpr uintptr_t kPage = 4096;
constexpr int kInvalidHow = -1;
constexpr size_t kKernelSigsetSize = 8;

// The 8 bytes at p (within one page) can be read. The first page never is,
// and the probe would take a null pointer for "no new mask".
bool probe(uintptr_t p) {
  if (p < kPage) return false;
  ErrnoKeeper keep;
  long result = syscall(SYS_rt_sigprocmask, kInvalidHow, reinterpret_cast<void*>(p), nullptr, kKernelSigsetSize);
  return !(result != 0 && errno == EFAULT);
}

// The probe's 8 bytes, inside the page that holds p.
uintptr_t probe_address(uintptr_t p) {
  uintptr_t page = p & ~(kPage - 1);
  return p - page <= kPage - 8 ? p : page + kPage - 8;
}

}  // namespace

bool readable(const void* p, size_t n) {
  if (n == 0) return true;
  auto start = reinterpret_cast<uintptr_t>(p);
  if (start + n < start) return false;
  for (uintptr_t page = start & ~(kPage - 1); page < start + n; page += kPage) {
    if (!probe(probe_address(page < start ? start : page))) return false;
  }
  return true;
}

bool readable_string(const char* s) {
  auto at = reinterpret_cast<uintptr_t>(s);
  for (;;) {
    if (!probe(probe_address(at))) return false;
    uintptr_t page_end = (at & ~(kPage - 1)) + kPage;
    size_t left = size_t(page_end - at);
    if (memchr(reinterpret_cast<const void*>(at), '\0', left)) return true;
    at = page_end;
  }
}

bool readable_strings(const char* const* v) {
  for (;; ++v) {
    if (!readable(v, sizeof(*v))) return false;
    if (!*v) return true;
    if (!readable_string(*v)) return false;
  }
}

}  // namespace connleak::shim
