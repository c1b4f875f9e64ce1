/* Holds every fd its limit allows, then churns the last one: socket(),
 * close(), 40000 times. The shim can grow its trace only by opening the file
 * for a moment, which a full fd table refuses, so events are lost; the
 * report must say so instead of calling the run clean. With an argument it
 * also lowers RLIMIT_FSIZE to 64 KiB, which must not kill the program
 * (SIGXFSZ) when the trace tries to grow past it. Prints what the kernel
 * showed it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc > 1) {
    struct rlimit fsize = {64 * 1024, 64 * 1024};
    if (setrlimit(RLIMIT_FSIZE, &fsize) != 0) return 98;
  }
  struct rlimit files = {64, 64};
  if (setrlimit(RLIMIT_NOFILE, &files) != 0) return 99;
  int last = -1, held = 0;
  for (;;) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
      printf("full after %d sockets: %s\n", held, strerror(errno));
      break;
    }
    last = s;
    ++held;
  }
  int failures = 0;
  for (int i = 0; i < 40000; ++i) {
    close(last);
    last = socket(AF_INET, SOCK_STREAM, 0);
    if (last < 0) ++failures;
  }
  printf("churned, %d failures, last fd %d\n", failures, last);
  return 0;
}
