/* A daemon started the classic way: the parent forks, the child setsid()s,
 * forks the daemon itself (the grandchild) and exits, and the daemon detaches
 * its stdio. Exit statuses: parent 0, child 4, daemon 5, so the status `run`
 * exits with is recognisably the parent's.
 *   double_fork_daemon PORT leak   the parent exits at once; the daemon prints
 *       "grandchild PID", sleeps 0.5 s, connects to the loopback server and
 *       exits without closing: one leaked connection, in a process that ends
 *       well after the command did.
 *   double_fork_daemon - forever   the parent exits once the daemon is up,
 *       printing "grandchild PID"; the daemon makes and closes a socket and
 *       never ends on its own (it sleeps 300 s). */
#include <fcntl.h>
#include <sys/prctl.h>

#include "common.h"

LEAK_SITE static int daemon_work(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect"); /* LEAK: daemon_work */
  LEAK_RETURN(fd);
}

static void detach_stdio(void) {
  int null = open("/dev/null", O_RDWR);
  must(null >= 0, "open /dev/null");
  dup2(null, 0);
  dup2(null, 1);
  dup2(null, 2);
  if (null > 2) close(null);
}

int main(int argc, char **argv) {
  must(argc == 3, "usage: double_fork_daemon PORT leak|forever");
  int forever = strcmp(argv[2], "forever") == 0;
  /* connleak run is a subreaper; the command it starts must not be one. */
  int subreaper = -1;
  must(prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0) == 0 && subreaper == 0, "subreaper");
  int ready[2] = {-1, -1};
  if (forever) must(pipe(ready) == 0, "pipe");
  pid_t child = fork();
  must(child >= 0, "fork");
  if (child == 0) {
    if (forever) close(ready[0]);
    must(setsid() >= 0, "setsid");
    pid_t grandchild = fork();
    must(grandchild >= 0, "fork");
    if (grandchild == 0) {
      pid_t self = getpid();
      if (!forever) {
        printf("grandchild %d\n", (int)self);
        fflush(stdout);
      }
      detach_stdio();
      if (forever) {
        /* One traced event: a fork child that has none leaves no trace, and
         * the test wants the running daemon in the report. */
        close(socket(AF_INET, SOCK_STREAM, 0));
        must(write(ready[1], &self, sizeof(self)) == (ssize_t)sizeof(self), "write");
        close(ready[1]);
        sleep(300);
        exit(5);
      }
      struct sockaddr_in server = server_address(argv[1]);
      usleep(500 * 1000);
      daemon_work(&server);
      exit(5);
    }
    exit(4);
  }
  if (forever) {
    close(ready[1]);
    pid_t daemon_pid = 0;
    must(read(ready[0], &daemon_pid, sizeof(daemon_pid)) == (ssize_t)sizeof(daemon_pid), "read");
    printf("grandchild %d\n", (int)daemon_pid);
  }
  return 0;
}
