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

namespace {

// Pages found readable during one check of a whole vector (argv, envp): its
// strings mostly share a few pages, and every probe is a system call (an
// environment of 40 variables was 80 of them per exec).
struct KnownPages {
  uintptr_t pages[4];
  int count = 0;  // the first `count` entries hold pages (page 0 is never readable)
  int next = 0;
  bool has(uintptr_t page) const {
    for (int i = 0; i < count; ++i) {
      if (pages[i] == page) return true;
    }
    return false;
  }
  void add(uintptr_t page) {
    pages[next] = page;
    next = (next + 1) % 4;
    if (count < 4) ++count;
  }
};

// The 8 probe bytes for `p` can be read (p is inside the page probed).
bool page_readable(uintptr_t p, KnownPages* known) {
  uintptr_t page = p & ~(kPage - 1);
  if (known && known->has(page)) return true;
  if (!probe(probe_address(p))) return false;
  if (known) known->add(page);
  return true;
}

bool readable_range(const void* p, size_t n, KnownPages* known) {
  if (n == 0) return true;
  auto start = reinterpret_cast<uintptr_t>(p);
  if (start + n < start) return false;
  for (uintptr_t page = start & ~(kPage - 1); page < start + n; page += kPage) {
    if (!page_readable(page < start ? start : page, known)) return false;
  }
  return true;
}

bool readable_chars(const char* s, KnownPages* known) {
  auto at = reinterpret_cast<uintptr_t>(s);
  for (;;) {
    if (!page_readable(at, known)) return false;
    uintptr_t page_end = (at & ~(kPage - 1)) + kPage;
    size_t left = size_t(page_end - at);
    if (memchr(reinterpret_cast<const void*>(at), '\0', left)) return true;
    at = page_end;
  }
}

}  // namespace

bool readable(const void* p, size_t n) { return readable_range(p, n, nullptr); }

bool readable_string(const char* s) { return readable_chars(s, nullptr); }

bool readable_strings(const char* const* v) {
  KnownPages known;
  for (;; ++v) {
    if (!readable_range(v, sizeof(*v), &known)) return false;
    if (!*v) return true;
    if (!readable_chars(*v, &known)) return false;
  }
}

}  // namespace connleak::shim
