/* A long-running server with the bug connleak is for: it answers every
 * request, but on one path out of N (here: every Nth request, standing for
 * an error path) it returns without closing the connection. It listens on
 * 127.0.0.1, prints "port P", and serves until its stdin closes, then exits
 * normally. argv[1] = N. */
#include <poll.h>

#include "common.h"

static int listen_on_loopback(void) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  must(listener >= 0, "socket");
  struct sockaddr_in addr = server_address("0");
  socklen_t len = sizeof(addr);
  must(bind(listener, (struct sockaddr *)&addr, sizeof(addr)) == 0, "bind");
  must(listen(listener, 128) == 0, "listen");
  must(getsockname(listener, (struct sockaddr *)&addr, &len) == 0, "getsockname");
  printf("port %d\n", ntohs(addr.sin_port));
  fflush(stdout);
  return listener;
}

/* Reads the request, answers it; forgets to close when `leak`. */
LEAK_SITE static int handle_request(int listener, int leak) {
  int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  if (conn < 0) return -1;
  char request[512];
  ssize_t got = read(conn, request, sizeof(request));
  static const char reply[] = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
  if (got > 0) write(conn, reply, sizeof(reply) - 1);
  if (leak) LEAK_RETURN(0); /* the bug: this path never closes conn */
  close(conn);
  LEAK_RETURN(0);
}

int main(int argc, char **argv) {
  int every = argc > 1 ? atoi(argv[1]) : 4;
  int listener = listen_on_loopback();
  struct pollfd fds[2] = {{listener, POLLIN, 0}, {0, POLLIN, 0}};
  for (long served = 1;; ) {
    must(poll(fds, 2, -1) >= 0, "poll");
    if (fds[1].revents) {
      char buf[64];
      if (read(0, buf, sizeof(buf)) <= 0) break;
    }
    if (fds[0].revents & POLLIN) {
      handle_request(listener, served % every == 0);
      ++served;
    }
  }
  close(listener);
  return 0;
}
