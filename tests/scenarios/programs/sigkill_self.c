/* Opens a connection and kills itself with SIGKILL: no exit handler runs.
 * Expected: the leak is still reported, from what the trace holds. */
#include <signal.h>

#include "common.h"

LEAK_SITE static int open_and_die(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect"); /* LEAK: open_and_die */
  raise(SIGKILL);
  return fd;
}

int main(int argc, char **argv) {
  (void)argc;
  struct sockaddr_in server = server_address(argv[1]);
  return open_and_die(&server);
}
