// The common parts of every interposed function (hooks_*.cpp).
//
// Each wrapper follows the same shape:
//   1. call the real function (real::name()), exactly as the program asked;
//   2. if tracing, keep errno (ErrnoKeeper) and tell the tracker;
//   3. return the real result.
// So the program sees the same return value, errno and fd numbers as without
// the shim.
#pragma once

#include <errno.h>

#include "errno_keeper.h"
#include "real_functions.h"
#include "tracker.h"

#define CONNLEAK_EXPORT extern "C" __attribute__((visibility("default")))

namespace connleak::shim {

namespace real = connleak::real;

// Starts tracing if nothing has tried yet; true when tracing.
bool start_tracing();
// True when calls should be recorded. Starts tracing on first use, so calls
// made before the shim's constructor ran are recorded too. Inline: every
// socket() asks.
inline bool tracing() { return __builtin_expect(tracker().active(), 1) || start_tracing(); }
// Like tracing(), but never starts: for close() and friends, which may run
// in signal handlers and have nothing to do before anything is tracked.
inline bool tracing_started() { return tracker().active(); }

}  // namespace connleak::shim
