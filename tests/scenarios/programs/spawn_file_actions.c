/* Two connections A and B, both without close-on-exec. posix_spawn() runs
 * /bin/sleep 0.1 with file actions that close B and dup2 A to fd 10, so the
 * new image inherits A (as fd A and as fd 10) but not B. The parent closes
 * A and B and waits. Expected: one inherited-socket warning at open_a, in
 * the spawned child's pid, naming /bin/sleep; nothing for B; no error.
 * socket() and connect() share one line (see exec_inherits_socket.c). */
#include <spawn.h>
#include <sys/wait.h>

#include "common.h"

extern char **environ;

LEAK_SITE static int open_a(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0); must(fd >= 0 && connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect"); /* LEAK: open_a */
  LEAK_RETURN(fd);
}

LEAK_SITE static int open_b(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0); must(fd >= 0 && connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect"); /* LEAK: open_b */
  LEAK_RETURN(fd);
}

int main(int argc, char **argv) {
  (void)argc;
  struct sockaddr_in server = server_address(argv[1]);
  int a = open_a(&server);
  int b = open_b(&server);
  posix_spawn_file_actions_t actions;
  must(posix_spawn_file_actions_init(&actions) == 0, "file_actions_init");
  must(posix_spawn_file_actions_addclose(&actions, b) == 0, "addclose");
  must(posix_spawn_file_actions_adddup2(&actions, a, 10) == 0, "adddup2");
  char *child_argv[] = {"sleep", "0.1", NULL};
  pid_t child;
  must(posix_spawn(&child, "/bin/sleep", &actions, NULL, child_argv, environ) == 0, "posix_spawn");
  posix_spawn_file_actions_destroy(&actions);
  close(a);
  close(b);
  int status = 0;
  must(waitpid(child, &status, 0) == child, "waitpid");
  printf("child %d a %d b %d\n", (int)child, a, b);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
