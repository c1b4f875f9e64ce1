/* The parent holds a close-on-exec connection and vfork()s; the child execs
 * /bin/true at once. The parent then closes its connection and waits.
 * Expected: no findings; the child's first image ends with "exec", the
 * /bin/true image and the parent with "exit". */
#include <sys/wait.h>

#include "common.h"

int main(int argc, char **argv) {
  (void)argc;
  struct sockaddr_in server = server_address(argv[1]);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  must(fd >= 0 && connect(fd, (const struct sockaddr *)&server, sizeof(server)) == 0, "connect");
  pid_t child = vfork();
  if (child == 0) {
    execl("/bin/true", "true", (char *)NULL);
    _exit(127);
  }
  must(child > 0, "vfork");
  close(fd);
  int status = 0;
  must(waitpid(child, &status, 0) == child, "waitpid");
  printf("child %d\n", (int)child);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
