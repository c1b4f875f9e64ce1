#include "shim_log.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "errno_keeper.h"

namespace connleak::shim {
namespace {

struct LineBuffer {
  char data[512];
  unsigned len = 0;

  void put(char c) {
    if (len < sizeof(data) - 1) data[len++] = c;
  }
  void put(const char* s) {
    while (s && *s) put(*s++);
  }
  void put(int64_t n) {
    char digits[24];
    unsigned count = 0;
    uint64_t v = n < 0 ? uint64_t(0) - uint64_t(n) : uint64_t(n);
    do {
      digits[count++] = char('0' + v % 10);
      v /= 10;
    } while (v);
    if (n < 0) put('-');
    while (count) put(digits[--count]);
  }
};

}  // namespace

namespace {

void log_line(const char* prefix, const char* format, const char* s, int64_t n) {
  ErrnoKeeper keep;
  LineBuffer line;
  line.put(prefix);
  for (const char* p = format; *p; ++p) {
    if (p[0] == '%' && p[1] == 's') {
      line.put(s ? s : "(null)");
      ++p;
    } else if (p[0] == '%' && p[1] == 'd') {
      line.put(n);
      ++p;
    } else {
      line.put(*p);
    }
  }
  line.put('\n');
  // A raw syscall: the program may have interposed write() itself.
  syscall(SYS_write, 2, line.data, line.len);
}

}  // namespace

void warn(const char* format, const char* s, int64_t n) { log_line("connleak: warning: ", format, s, n); }

void error(const char* format, const char* s, int64_t n) { log_line("connleak: error: ", format, s, n); }

}  // namespace connleak::shim
