/* Opens a connection WITHOUT close-on-exec and execs /bin/sleep 0.1 in the
 * same pid, which inherits it (and exits without closing it: it is not the
 * new image's leak). Expected: one inherited-socket warning at
 * open_inheritable, in this pid, naming /bin/sleep; no error.
 * socket() and connect() share one line, so the stack[0] line is the same
 * whichever of the two calls counts as the socket's creation. */
#include "common.h"

LEAK_SITE static int open_inheritable(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0); must(fd >= 0 && connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect"); /* LEAK: open_inheritable */
  LEAK_RETURN(fd);
}

int main(int argc, char **argv) {
  (void)argc;
  struct sockaddr_in server = server_address(argv[1]);
  int fd = open_inheritable(&server);
  printf("pid %d fd %d\n", (int)getpid(), fd);
  fflush(stdout);
  execl("/bin/sleep", "sleep", "0.1", (char *)NULL);
  perror("execl");
  return 1;
}
