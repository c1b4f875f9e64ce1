/* Connects, sends 5 bytes with send() and 7 with write(), reads the
 * server's reply (one line) with read(), then stays idle for 200 ms and
 * exits without closing. Expected: one leaked-connection at open_conn with
 * bytes_sent 12, bytes_received = the count printed, idle_ns >= 150 ms. */
#include <time.h>

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
  must(send(fd, "hello", 5, 0) == 5, "send");
  must(write(fd, "1234567", 7) == 7, "write");
  char reply[256];
  size_t received = 0;
  while (received == 0 || reply[received - 1] != '\n') {
    ssize_t n = read(fd, reply + received, sizeof(reply) - received);
    must(n > 0 && received + (size_t)n < sizeof(reply), "read");
    received += (size_t)n;
  }
  printf("received %zu\n", received);
  fflush(stdout);
  struct timespec idle = {0, 200 * 1000 * 1000};
  nanosleep(&idle, NULL);
  return 0;
}
