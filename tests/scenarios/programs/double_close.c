/* Opens a socket, closes it, and closes the same fd again (EBADF).
 * Expected: one bad-close warning whose stack[0] is the second close() in
 * close_twice, for that fd; no error. */
#include <errno.h>

#include "common.h"

LEAK_SITE static int close_twice(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(fd >= 0, "socket");
  printf("fd %d\n", fd);
  fflush(stdout);
  must(close(fd) == 0, "close");
  LEAK_RETURN(close(fd)); /* LEAK: close_twice */
}

int main(void) {
  int result = close_twice();
  return result == -1 && errno == EBADF ? 0 : 1;
}
