/* Opens a close-on-exec connection and then execs /bin/true. Expected: no
 * finding; the socket ended at exec. With "exec-fails", exec of a missing
 * program fails first and the program then closes the socket itself. */
#include "common.h"

int main(int argc, char **argv) {
  struct sockaddr_in server = server_address(argv[1]);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  must(connect(fd, (const struct sockaddr *)&server, sizeof(server)) == 0, "connect");
  if (argc > 2 && strcmp(argv[2], "exec-fails") == 0) {
    execl("/nonexistent/program", "program", (char *)NULL);
    close(fd);
    return 0;
  }
  execl("/bin/true", "true", (char *)NULL);
  return 1;
}
