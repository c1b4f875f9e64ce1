/* Times N socket()+close() pairs and prints ns per pair; run it with and
 * without the shim to get the shim's cost (scripts/bench.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  double start = now_s();
  for (long i = 0; i < n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 1;
    close(fd);
  }
  printf("%.1f\n", (now_s() - start) / n * 1e9);
  return 0;
}
