/* A fork-per-connection server (the PostgreSQL pattern): the parent accepts,
 * forks a child per connection and closes its copy; the child answers and
 * _exits still holding the accepted socket. (It waits for the parent's
 * close first: had it ended while the parent still held the socket, the
 * parent's close would have been the last, and nothing leaked.) argv[1]:
 * how many clients. The port goes to stdout. */
#include <sys/wait.h>

#include "common.h"

static LEAK_SITE int accept_client(int listener) {
  LEAK_RETURN(accept(listener, NULL, NULL)); /* LEAK: accept_client */
}

int main(int argc, char **argv) {
  int clients = argc > 1 ? atoi(argv[1]) : 4;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = server_address("0");
  socklen_t len = sizeof(addr);
  must(bind(listener, (struct sockaddr *)&addr, sizeof(addr)) == 0, "bind");
  must(listen(listener, 16) == 0, "listen");
  must(getsockname(listener, (struct sockaddr *)&addr, &len) == 0, "getsockname");
  printf("%d\n", ntohs(addr.sin_port));
  fflush(stdout);
  for (int i = 0; i < clients; i++) {
    int conn = accept_client(listener);
    must(conn >= 0, "accept");
    int parent_closed[2];
    must(pipe(parent_closed) == 0, "pipe");
    pid_t pid = fork();
    must(pid >= 0, "fork");
    if (pid == 0) {
      close(listener);
      close(parent_closed[1]);
      must(write(conn, "hi\n", 3) == 3, "write");
      char byte;
      must(read(parent_closed[0], &byte, 1) == 0, "read");
      _exit(0);
    }
    close(conn);
    close(parent_closed[0]);
    close(parent_closed[1]);
    waitpid(pid, NULL, 0);
  }
  close(listener);
  return 0;
}
