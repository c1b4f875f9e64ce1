// The shim's logger: async-signal-safe, allocation-free. It formats into a
// stack buffer and write()s one line to stderr, prefixed "connleak: warning: ".
// The shim warns only when it stops doing part of its job. It never aborts,
// except where the dynamic linker itself would end the process (a call no
// definition can answer), and then says so with error().
#pragma once

#include <cstdint>

namespace connleak::shim {

// Arguments are strings (const char*) or integers; `%s` and `%d` only.
void warn(const char* format, const char* s = nullptr, int64_t n = 0);
// The same, prefixed "connleak: error: ".
void error(const char* format, const char* s = nullptr, int64_t n = 0);

}  // namespace connleak::shim
