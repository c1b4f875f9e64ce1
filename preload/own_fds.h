// The shim's own fds (its trace file, libunwind's internal pipe) live high
// and close-on-exec, away from the numbers the program gets, and the fd
// hooks keep the program from closing or replacing them.
#pragma once

namespace connleak::shim {

// The lowest number the shim's own fds take: near the top of the soft
// RLIMIT_NOFILE, capped so that select()-style tables stay small.
int high_fd_floor();

// Moves `fd` to a free number >= min_fd, close-on-exec; returns the new fd,
// or the old one if it could not be moved.
int move_fd_high(int fd, int min_fd);

}  // namespace connleak::shim
