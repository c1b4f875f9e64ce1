/* Closes every fd it has with close_range(0, ~0U), the way a daemon does,
 * then leaks one new connection. Expected: exactly that one finding; the
 * shim keeps tracing although its own fds were in the range. */
#define _GNU_SOURCE
#include "common.h"

LEAK_SITE static int leak_after_close_all(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  connect(fd, (const struct sockaddr *)server, sizeof(*server)); /* LEAK: leak_after_close_all */
  LEAK_RETURN(fd);
}

int main(int argc, char **argv) {
  (void)argc;
  struct sockaddr_in server = server_address(argv[1]);
  int early = socket(AF_INET, SOCK_STREAM, 0);
  connect(early, (const struct sockaddr *)&server, sizeof(server));
  close_range(0, ~0U, 0);
  return leak_after_close_all(&server) >= 0 ? 0 : 1;
}
