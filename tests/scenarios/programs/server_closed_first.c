/* Connects to a server that closes its end at once, waits (poll) until the
 * server's FIN has arrived, and exits without closing. Expected: one
 * leaked-connection at open_conn whose tcp_state is CLOSE_WAIT. */
#include <poll.h>

#include "common.h"

LEAK_SITE static int open_conn(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(fd >= 0, "socket");
  must(connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect"); /* LEAK: open_conn */
  LEAK_RETURN(fd);
}

int main(int argc, char **argv) {
  (void)argc;
  struct sockaddr_in server = server_address(argv[1]);
  int fd = open_conn(&server);
  /* The server sends nothing: the only way to become readable is its FIN. */
  struct pollfd wait_for = {.fd = fd, .events = POLLIN};
  int ready = poll(&wait_for, 1, 5000);
  printf("%s\n", ready == 1 ? "peer closed" : "timeout");
  return ready == 1 ? 0 : 2;
}
