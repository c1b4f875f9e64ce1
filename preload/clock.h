#pragma once

#include <time.h>

#include <cstdint>

namespace connleak::shim {

// CLOCK_MONOTONIC goes through the vDSO: no system call, but on a TSC clock
// source it still costs ~24 ns (an ordered TSC read and a seqlock), as much
// as the rest of an I/O hook. Used for the rare records: process life,
// connect, accept, sessions.
inline uint64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
  timespec ts;
  clock_gettime(clock, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// The same clock as of the last timer tick (~5 ns; one tick, 4 ms at
// HZ=250, of resolution). For the hot records (socket(), close(), the time
// of a socket's last I/O): leaks are idle for seconds, and a timestamp a
// tick early is fine for them. A coarse time can be up to a tick earlier
// than a fine one taken just before it; the analyzer clamps such times to
// their socket's or process's start.
inline uint64_t coarse_now_ns() { return now_ns(CLOCK_MONOTONIC_COARSE); }

// A cycle counter that costs no memory access (the TSC), for telling cheaply
// whether a coarse stamp taken a moment ago is still good. Not a clock: its
// rate is unknown (>= 1 GHz on any x86-64 of the last 15 years), so it only
// ever gates reading the real one.
#if defined(__x86_64__)
inline constexpr bool kHaveCycleCounter = true;
inline uint64_t cycle_count() { return __builtin_ia32_rdtsc(); }
#else
inline constexpr bool kHaveCycleCounter = false;
inline uint64_t cycle_count() { return 0; }
#endif
// Cycles within which a coarse stamp is reused: ~1.4 ms at 3 GHz, at most
// ~4 ms (one tick at HZ=250) at 1 GHz. So a stamp is at most that much
// older than the I/O it stands for, on top of the coarse clock's tick.
inline constexpr uint64_t kStampReuseCycles = uint64_t(1) << 22;

}  // namespace connleak::shim
