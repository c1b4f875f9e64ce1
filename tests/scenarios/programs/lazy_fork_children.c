/* A parent that holds no socket forks children that inherit nothing traced,
 * so each makes its trace only at its first event:
 *   lazy_fork_children          one child only exits, one execs /bin/true,
 *       one leaks a socket (leak_in_child). Each child prints its pid. The
 *       parent then makes a socket of its own and forks once more: that
 *       child inherits it and gets its trace at the fork.
 *   lazy_fork_children no-fd    the parent lowers RLIMIT_NOFILE to 16; the
 *       only child fills its fd table first: its socket() fails (EMFILE), and
 *       so does its trace.
 *   lazy_fork_children rlimit   the only child lowers its RLIMIT_NOFILE to
 *       3, then makes a socket (which fails): its trace is made before the
 *       limit.
 *   lazy_fork_children setuid   (as root) the only child becomes nobody,
 *       who may not write the trace directory, then leaks a socket: its
 *       trace is made before the user changes. */
#include <sys/resource.h>
#include <sys/wait.h>

#include "common.h"

LEAK_SITE static int leak_in_child(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0); /* LEAK: leak_in_child */
  LEAK_RETURN(fd);
}

static pid_t start_child(int kind) {
  fflush(stdout);
  pid_t pid = fork();
  must(pid >= 0, "fork");
  if (pid != 0) return pid;
  printf("child %d %s\n", (int)getpid(), kind == 0 ? "exits" : kind == 1 ? "execs" : kind == 2 ? "leaks" : "inherits");
  fflush(stdout);
  if (kind == 1) {
    execl("/bin/true", "true", (char *)NULL);
    _exit(127);
  }
  if (kind == 2) leak_in_child();
  _exit(0);
}

static void wait_all(void) {
  int status;
  while (wait(&status) > 0) must(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status");
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "no-fd") == 0) {
    struct rlimit limit = {16, 16};
    must(setrlimit(RLIMIT_NOFILE, &limit) == 0, "setrlimit");
    fflush(stdout);
    pid_t pid = fork();
    must(pid >= 0, "fork");
    if (pid == 0) {
      while (dup(0) >= 0) {
      }
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      printf("child socket %d\n", fd);
      fflush(stdout);
      _exit(0);
    }
    wait_all();
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "rlimit") == 0) {
    fflush(stdout);
    pid_t pid = fork();
    must(pid >= 0, "fork");
    if (pid == 0) {
      struct rlimit limit = {3, 3};
      must(setrlimit(RLIMIT_NOFILE, &limit) == 0, "setrlimit");
      printf("child %d socket %d\n", (int)getpid(), socket(AF_INET, SOCK_STREAM, 0));
      fflush(stdout);
      _exit(0);
    }
    wait_all();
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "setuid") == 0) {
    fflush(stdout);
    pid_t pid = fork();
    must(pid >= 0, "fork");
    if (pid == 0) {
      must(setuid(65534) == 0, "setuid");
      printf("child %d leaks as nobody\n", (int)getpid());
      fflush(stdout);
      leak_in_child();
      _exit(0);
    }
    wait_all();
    return 0;
  }
  for (int kind = 0; kind < 3; ++kind) start_child(kind);
  wait_all();
  int own = socket(AF_INET, SOCK_STREAM, 0);
  start_child(3);
  wait_all();
  close(own);
  return 0;
}
