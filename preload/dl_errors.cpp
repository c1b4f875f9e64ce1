#include "dl_errors.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "real_functions.h"

namespace connleak::shim {
namespace {

// No object can define it: not a C identifier.
constexpr const char* kMarkerName = "connleak.kept-dlerror-message";

__attribute__((tls_model("initial-exec"))) thread_local int t_keepers = 0;
// The program's message while the marker stands for it (malloc'd), and the
// last one handed out, valid until the thread's next dlerror() as libc's.
__attribute__((tls_model("initial-exec"))) thread_local char* t_kept = nullptr;
__attribute__((tls_model("initial-exec"))) thread_local char* t_handed_out = nullptr;

bool is_marker(const char* message) { return message && strstr(message, kMarkerName); }

void replace(char*& slot, char* message) {
  free(slot);
  slot = message;
}

void leave_marker() { real::real_dlsym(RTLD_DEFAULT, kMarkerName); }

}  // namespace

void resolve_real_dl_functions() {
  real::dlerror();
  connleak_resolve_real_dlsym();
}

DlErrorKeeper::DlErrorKeeper() {
  if (t_keepers++ > 0) return;
  const char* pending = real::dlerror()();
  // The marker: the message kept earlier is still the program's. Anything
  // else replaced it (a newer message, or none after a call that worked).
  if (is_marker(pending)) return;
  replace(t_kept, pending ? strdup(pending) : nullptr);
}

DlErrorKeeper::~DlErrorKeeper() {
  if (--t_keepers > 0) return;
  drop_dlerror();
  if (t_kept) leave_marker();
}

char* program_dlerror() {
  char* message = real::dlerror()();
  if (!is_marker(message)) return message;
  replace(t_handed_out, t_kept);
  t_kept = nullptr;
  return t_handed_out;
}

void drop_dlerror() { real::dlerror()(); }

}  // namespace connleak::shim
