/* Fills its fd table, then forks a child that exits at once: the child
 * cannot open a trace file of its own, so its events are missing, and the
 * report must say so for its parent instead of reading as complete. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  struct rlimit files = {32, 32};
  if (setrlimit(RLIMIT_NOFILE, &files) != 0) return 99;
  int held = 0;
  while (socket(AF_INET, SOCK_STREAM, 0) >= 0) ++held;
  pid_t child = fork();
  if (child == 0) _exit(0);
  int status = 0;
  waitpid(child, &status, 0);
  printf("held %d, child exited %d\n", held, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return 0;
}
