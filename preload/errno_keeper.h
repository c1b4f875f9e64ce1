// Restores errno when a scope ends: the shim's own system calls (growing the
// trace, a warning, unwinding) must leave the program's errno as it was.
#pragma once

#include <errno.h>

namespace connleak::shim {

class ErrnoKeeper {
 public:
  ErrnoKeeper() : saved_(errno) {}
  ~ErrnoKeeper() { errno = saved_; }
  ErrnoKeeper(const ErrnoKeeper&) = delete;
  ErrnoKeeper& operator=(const ErrnoKeeper&) = delete;

 private:
  int saved_;
};

}  // namespace connleak::shim
