/* The parent forks; the child opens a connection and dies from a signal
 * without closing it: SIGABRT from abort() (core dumps off), or SIGTERM with
 * "term". The parent reaps it with waitpid() and exits 0. Expected: one
 * leaked-connection at doomed_conn in the child's pid only; the child's
 * process ends with "signal" and that signal's number. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "common.h"

LEAK_SITE static int doomed_conn(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(fd >= 0, "socket");
  must(connect(fd, (const struct sockaddr *)server, sizeof(*server)) == 0, "connect"); /* LEAK: doomed_conn */
  LEAK_RETURN(fd);
}

int main(int argc, char **argv) {
  struct sockaddr_in server = server_address(argv[1]);
  int term = argc > 2 && strcmp(argv[2], "term") == 0;
  pid_t child = fork();
  must(child >= 0, "fork");
  if (child == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    doomed_conn(&server);
    if (term)
      raise(SIGTERM);
    else
      abort();
    _exit(1);
  }
  int status = 0;
  must(waitpid(child, &status, 0) == child, "waitpid");
  must(WIFSIGNALED(status) && WTERMSIG(status) == (term ? SIGTERM : SIGABRT), "child killed by the signal");
  printf("child %d signal %d\n", (int)child, WTERMSIG(status));
  return 0;
}
