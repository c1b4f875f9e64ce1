/* Connects three times to the server and closes only the first connection,
 * unless given "close-all". Expected: one leaked-connection, count 2, at the
 * connect() line in open_conn. */
#include "common.h"

LEAK_SITE static int open_conn(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(fd >= 0, "socket");
  must(connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect"); /* LEAK: open_conn */
  LEAK_RETURN(fd);
}

int main(int argc, char **argv) {
  struct sockaddr_in server = server_address(argv[1]);
  int close_all = argc > 2 && strcmp(argv[2], "close-all") == 0;
  int fds[3];
  for (int i = 0; i < 3; i++) fds[i] = open_conn(&server);
  close(fds[0]);
  if (close_all) {
    close(fds[1]);
    close(fds[2]);
  }
  return 0;
}
