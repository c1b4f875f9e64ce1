/* A long-running client for bounded traces: in its first moments it opens
 * three connections to a loopback listener of its own and never closes
 * them, then makes socket()+connect()+close() as fast as it can for
 * SECONDS, enough history to rotate a small trace many times over; then it
 * writes to the early connections again and exits.
 *
 *   bounded_churn SECONDS
 *
 * Prints "port P" at start and "connections N" (every socket it made) at
 * the end, on stdout. The server side uses raw system calls (as the
 * benchmarks do), so the shim records only the client's calls. Expected:
 * exactly the three early connections are leaked, with their stack, peer
 * and bytes (10 sent at start, 5 at the end: 15). */
#include <arpa/inet.h>
#include <stdint.h>
#include <time.h>

#include "../../../bench/raw_net.h"
#include "common.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

LEAK_SITE static int open_early(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(fd >= 0, "socket");
  must(connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect"); /* LEAK: open_early */
  LEAK_RETURN(fd);
}

LEAK_SITE static void churn_once(int listener, const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(fd >= 0, "socket");
  must(connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect");
  int peer = raw_accept4(listener, SOCK_CLOEXEC);
  must(peer >= 0, "accept4");
  close(fd);
  raw_close(peer);
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 5;
  struct sockaddr_in server;
  int listener = raw_loopback_listener(&server, 0);
  must(listener >= 0, "loopback listener");
  printf("port %d\n", ntohs(server.sin_port));
  fflush(stdout);
  int early[3], held[3];
  for (int i = 0; i < 3; i++) {
    early[i] = open_early(&server);
    held[i] = raw_accept4(listener, SOCK_CLOEXEC);
    must(held[i] >= 0, "accept4");
    must(write(early[i], "0123456789", 10) == 10, "write");
  }
  long made = 3;
  uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
  while (now_ns() < end) {
    for (int i = 0; i < 256; i++) churn_once(listener, &server);
    made += 256;
  }
  for (int i = 0; i < 3; i++) must(write(early[i], "abcde", 5) == 5, "write");
  printf("connections %ld\n", made);
  return 0;
}
