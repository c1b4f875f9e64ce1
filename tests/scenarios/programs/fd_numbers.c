/* Prints the fd numbers it gets for a socket, a pipe, a socketpair and
 * another socket. Expected: the same numbers with and without connleak (the
 * shim's own fds live high). */
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
  int a = socket(AF_INET, SOCK_STREAM, 0);
  int p[2], pair[2];
  if (pipe(p) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) return 1;
  int b = socket(AF_INET6, SOCK_DGRAM, 0);
  printf("%d %d %d %d %d %d\n", a, p[0], p[1], pair[0], pair[1], b);
  return 0;
}
