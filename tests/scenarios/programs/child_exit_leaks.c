/* The parent forks; the child leaks a connection and leaves with _exit(3)
 * (no atexit handlers, no stdio flush); the parent reaps it and exits 0.
 * Expected: one leaked-connection at child_connect in the child's pid only;
 * the child's process ends with "exit", status 3. */
#include <sys/wait.h>

#include "common.h"

LEAK_SITE static int child_connect(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(fd >= 0, "socket");
  must(connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect"); /* LEAK: child_connect */
  LEAK_RETURN(fd);
}

int main(int argc, char **argv) {
  (void)argc;
  struct sockaddr_in server = server_address(argv[1]);
  pid_t child = fork();
  must(child >= 0, "fork");
  if (child == 0) {
    child_connect(&server);
    _exit(3);
  }
  int status = 0;
  must(waitpid(child, &status, 0) == child, "waitpid");
  must(WIFEXITED(status) && WEXITSTATUS(status) == 3, "child exit status 3");
  printf("child %d\n", (int)child);
  return 0;
}
