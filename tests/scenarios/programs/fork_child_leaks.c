/* Parent and child share a connection and both close their copy; only the
 * child opens a connection of its own and leaks it. Expected: one
 * leaked-connection in the child's pid, none in the parent. */
#include <sys/wait.h>

#include "common.h"

LEAK_SITE static void child_work(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect"); /* LEAK: child_work */
}

int main(int argc, char **argv) {
  (void)argc;
  struct sockaddr_in server = server_address(argv[1]);
  int shared = socket(AF_INET, SOCK_STREAM, 0);
  must(connect(shared, (const struct sockaddr *)&server, sizeof(server)) == 0, "connect");
  pid_t child = fork();
  must(child >= 0, "fork");
  if (child == 0) {
    close(shared);
    child_work(&server);
    printf("child %d\n", getpid());
    exit(0);
  }
  close(shared);
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
