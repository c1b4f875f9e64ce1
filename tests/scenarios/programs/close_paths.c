/* Every socket is closed, each by a different path the shim must follow.
 * Expected: no findings. */
#define _GNU_SOURCE
#include <fcntl.h>

#include "common.h"

static int connected(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(fd >= 0 && connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect");
  return fd;
}

int main(int argc, char **argv) {
  (void)argc;
  struct sockaddr_in server = server_address(argv[1]);

  /* fclose of an fdopen()ed socket */
  FILE *stream = fdopen(connected(&server), "r+");
  must(stream != NULL, "fdopen");
  must(fclose(stream) == 0, "fclose");

  /* dup, then close both */
  int a = connected(&server);
  int b = dup(a);
  close(a);
  close(b);

  /* dup2 over an open socket closes it; then close the copy and original */
  int c = connected(&server);
  int d = connected(&server);
  must(dup2(c, d) == d, "dup2");
  close(c);
  close(d);

  /* dup3 and fcntl(F_DUPFD_CLOEXEC) */
  int e = connected(&server);
  int f = fcntl(e, F_DUPFD_CLOEXEC, 50);
  int g = dup3(e, 60, O_CLOEXEC);
  close(e);
  close(f);
  close(g);

  /* socketpair, both ends */
  int pair[2];
  must(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0, "socketpair");
  close(pair[0]);
  close(pair[1]);

  /* close_range over a block of sockets */
  int first = connected(&server);
  int last = first;
  for (int i = 0; i < 3; i++) last = connected(&server);
  must(close_range((unsigned)first, (unsigned)last, 0) == 0, "close_range");

  /* closefrom */
  int h = connected(&server);
  closefrom(h);
  return 0;
}
