#include "real_functions.h"

namespace connleak::real {

void* resolve(const char* name) {
  // RTLD_NEXT skips this library, so we find libc's (or the next
  // interposer's) definition.
  return dlsym(RTLD_NEXT, name);
}

}  // namespace connleak::real
