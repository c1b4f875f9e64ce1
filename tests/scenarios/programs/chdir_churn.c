/* Changes its working directory, then makes enough sockets that the trace
 * must grow: the shim reopens its trace by an absolute path, so a relative
 * CONNLEAK_OUTPUT_DIR still works. Leaks one socket at the end. */
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
  if (chdir("/") != 0) return 1;
  for (int i = 0; i < 20000; ++i) close(socket(AF_INET, SOCK_STREAM, 0));
  int leaked = socket(AF_INET, SOCK_STREAM, 0);  /* LEAK: chdir_churn */
  printf("%d\n", leaked);
  return 0;
}
