/* Leak sites for --gen-suppressions, whose rules must tell them apart:
 * open_conn leaks a connection for each of two callers (two findings whose
 * innermost frame is the same function), open_direct one of its own, and
 * make_listener a listening socket. Expected: three leaked-connection
 * findings (through fetch_users, through fetch_orders, at open_direct) and
 * one leaked-socket (make_listener). */
#include "common.h"

LEAK_SITE static int open_conn(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(fd >= 0, "socket");
  must(connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect"); /* LEAK: open_conn */
  LEAK_RETURN(fd);
}

/* Bodies that differ (the messages, the socket flags), so that -O2 cannot
 * fold them into one function (identical code folding). */
LEAK_SITE static int fetch_users(const struct sockaddr_in *server) {
  int fd = open_conn(server);
  must(fd >= 0, "users");
  LEAK_RETURN(fd);
}

LEAK_SITE static int fetch_orders(const struct sockaddr_in *server) {
  int fd = open_conn(server);
  must(fd >= 0, "orders");
  LEAK_RETURN(fd);
}

LEAK_SITE static int open_direct(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  must(fd >= 0, "socket");
  must(connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect"); /* LEAK: open_direct */
  LEAK_RETURN(fd);
}

LEAK_SITE static int make_listener(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0); /* LEAK: make_listener */
  struct sockaddr_in addr = server_address("0");
  must(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 && listen(fd, 4) == 0, "listen");
  LEAK_RETURN(fd);
}

int main(int argc, char **argv) {
  (void)argc;
  struct sockaddr_in server = server_address(argv[1]);
  fetch_users(&server);
  fetch_orders(&server);
  open_direct(&server);
  make_listener();
  return 0;
}
