// Whether the program's memory can be read, asked of the kernel instead of
// by touching it: a wrapper that reads an argument the kernel would reject
// with EFAULT must not crash where the call would only have failed. The
// probe is a system call that copies 8 bytes from the address and then
// fails on purpose without doing anything (rt_sigprocmask with an invalid
// `how`), so it has no effect, needs no fd, and is allowed by seccomp
// sandboxes. Page permissions are per page: one probe per page touched.
#pragma once

#include <cstddef>

namespace connleak::shim {

// Every byte of [p, p + n) is readable.
bool readable(const void* p, size_t n);
// A NUL-terminated string, all readable.
bool readable_string(const char* s);
// A NULL-terminated array of such strings (argv, envp), all readable.
bool readable_strings(const char* const* v);

}  // namespace connleak::shim
