/* Closes a tracked connection with a raw syscall(SYS_close), which the shim
 * cannot see. With "reuse", the next socket() gets the same fd number and
 * that connection is closed normally; with "gone", nothing is opened again
 * (only the exit check can tell the fd is gone).
 * Expected: no findings in either mode. */
#include <sys/syscall.h>

#include "common.h"

static int connected(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(fd >= 0 && connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect");
  return fd;
}

int main(int argc, char **argv) {
  must(argc == 3, "usage: raw_close PORT reuse|gone");
  struct sockaddr_in server = server_address(argv[1]);
  int fd = connected(&server);
  must(syscall(SYS_close, fd) == 0, "SYS_close");
  if (strcmp(argv[2], "reuse") == 0) {
    int again = connected(&server);
    must(again == fd, "fd number reused");
    close(again);
  }
  printf("fd %d\n", fd);
  return 0;
}
