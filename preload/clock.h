#pragma once

#include <time.h>

#include <cstdint>

namespace connleak::shim {

// CLOCK_MONOTONIC goes through the vDSO: no system call on the hot path.
inline uint64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
  timespec ts;
  clock_gettime(clock, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

}  // namespace connleak::shim
