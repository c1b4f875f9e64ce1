#include "own_fds.h"

#include <fcntl.h>
#include <sys/resource.h>

#include "real_functions.h"

namespace connleak::shim {

int high_fd_floor() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < 256) return 100;
  rlim_t top = limit.rlim_cur > 4096 ? 4096 : limit.rlim_cur;
  return int(top - 64);
}

int move_fd_high(int fd, int min_fd) {
  int moved = real::fcntl()(fd, F_DUPFD_CLOEXEC, min_fd);
  if (moved < 0) return fd;
  real::close()(fd);
  return moved;
}

}  // namespace connleak::shim
