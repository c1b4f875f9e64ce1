/* Helpers shared by the session programs. As in tests/scenarios: a
 * LEAK_SITE function keeps its own frame at -O2 (never inlined, cloned or
 * split), and each creation line carries a LEAK comment that the Python
 * tests look up with leak_line(). */
#ifndef SESSION_COMMON_H
#define SESSION_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define LEAK_SITE __attribute__((noinline, noclone))

/* Keeps a call from being the function's last (tail) call. */
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

static inline void must(int ok, const char *what) {
  if (!ok) {
    perror(what);
    exit(99);
  }
}

/* A TCP socket connected to 127.0.0.1:port, with 10 s I/O timeouts so a
 * broken server fails the program instead of hanging it. */
static inline int connect_loopback(const char *port) {
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)atoi(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(fd >= 0, "socket");
  struct timeval timeout = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  must(connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) == 0, "connect");
  return fd;
}

#endif
