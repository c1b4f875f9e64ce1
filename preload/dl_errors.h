// The program's dlerror() message, kept across the shim's own dl calls.
// Every dlopen/dlsym/dlclose clears or replaces the calling thread's
// message, so a lookup the shim makes in the middle of the program (a
// wrapper's first call resolving the real function, libunwind loaded at the
// first stack) would otherwise lose an error the program has not read yet:
//     if (!dlopen(plugin, RTLD_NOW)) { log_over_socket(...); puts(dlerror()); }
// or leave one of its own where the program expects none.
//
// How: a keeper reads the program's pending message (with libc's dlerror,
// which clears it) before the shim's calls, and after them consumes
// whatever they left. If the program had a message, a failing lookup of a
// name no object defines leaves a marker message in its place: a dl call the
// program makes next replaces the marker as it would have replaced the
// message, and the shim's dlerror() returns the kept message where it finds
// the marker.
#pragma once

namespace connleak::shim {

class DlErrorKeeper {
 public:
  DlErrorKeeper();
  ~DlErrorKeeper();
  DlErrorKeeper(const DlErrorKeeper&) = delete;
  DlErrorKeeper& operator=(const DlErrorKeeper&) = delete;
};

// What dlerror() returns to the program.
char* program_dlerror();
// The message the last dl call left, dropped: the shim's own, after a call
// made on the program's behalf that must end as libc's would have.
void drop_dlerror();
// Finds libc's dlerror and dlsym before the program can have a message
// pending (start-up); later, finding them would itself clear the message.
void resolve_real_dl_functions();

}  // namespace connleak::shim
