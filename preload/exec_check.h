// Before an exec: will the new program be traced? A statically linked or
// setuid program ignores LD_PRELOAD, so its sockets would silently go
// unreported; the shim says so in one warning line instead.
#pragma once

namespace connleak::shim {

// `file` as given to exec (a path, or a name looked up in PATH when
// `search_path`). Warns when the program cannot be traced. No allocation.
void warn_if_untraceable(const char* file, bool search_path);

}  // namespace connleak::shim
