/* Parent opens a connection and a socketpair, then forks. The child closes
 * what it inherited, opens and closes a connection of its own, writes one
 * byte to the parent and exits; the parent reads it, closes everything and
 * waits. Expected: no findings; two processes, both ending with "exit". */
#include <sys/wait.h>

#include "common.h"

static int connected(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(fd >= 0 && connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect");
  return fd;
}

int main(int argc, char **argv) {
  (void)argc;
  struct sockaddr_in server = server_address(argv[1]);
  int shared = connected(&server);
  int pair[2];
  must(socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0, "socketpair");
  pid_t child = fork();
  must(child >= 0, "fork");
  if (child == 0) {
    close(shared);
    close(pair[0]);
    int own = connected(&server);
    must(write(pair[1], "x", 1) == 1, "write");
    close(own);
    close(pair[1]);
    exit(0);
  }
  close(pair[1]);
  char byte;
  must(read(pair[0], &byte, 1) == 1, "read");
  close(pair[0]);
  close(shared);
  int status = 0;
  must(waitpid(child, &status, 0) == child, "waitpid");
  printf("child %d\n", (int)child);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
