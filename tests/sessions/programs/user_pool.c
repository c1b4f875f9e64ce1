/* A program's own session type, annotated with connleak.h: a "pool" that
 * holds one connection to the test's echo server (port in argv[1]).
 * pool_new() begins the session and connects, pool_get() does one request
 * and marks a transfer done, pool_free() closes and ends the session.
 * Two pools: the first does 3 requests and is freed, the second does 2 and
 * is never freed.
 * Expected: one leaked-session, api "user:pool", completed_transfers 2, at
 * the connleak_session_begin line in pool_new. Without the shim the
 * annotations do nothing and the program runs the same.
 * Prints "pool 0x..." per pool, "reply <line>" per request and
 * "pools 2 freed 1". */
#include <connleak/connleak.h>

#include "session_common.h"

struct pool {
  int fd;
  int requests;
};

LEAK_SITE static struct pool *pool_new(const char *port) {
  struct pool *p = calloc(1, sizeof(*p));
  must(p != NULL, "calloc");
  connleak_session_begin("pool", p); /* LEAK: pool_new */
  p->fd = connect_loopback(port);
  printf("pool %p\n", (void *)p);
  KEEP_FRAME();
  return p;
}

LEAK_SITE static void pool_get(struct pool *p) {
  char request[32];
  int length = snprintf(request, sizeof(request), "request %d\n", ++p->requests);
  must(write(p->fd, request, (size_t)length) == length, "write");
  char reply[64];
  size_t used = 0;
  while (used == 0 || reply[used - 1] != '\n') {
    ssize_t n = read(p->fd, reply + used, sizeof(reply) - 1 - used);
    must(n > 0, "read");
    used += (size_t)n;
    must(used < sizeof(reply) - 1, "reply too long");
  }
  reply[used - 1] = '\0';
  printf("reply %s\n", reply);
  connleak_session_transfer_done(p);
  KEEP_FRAME();
}

LEAK_SITE static void pool_free(struct pool *p) {
  close(p->fd);
  connleak_session_end(p);
  free(p);
  KEEP_FRAME();
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 64;
  }
  struct pool *kept = pool_new(argv[1]);
  struct pool *leaked = pool_new(argv[1]);
  for (int i = 0; i < 3; i++) pool_get(kept);
  for (int i = 0; i < 2; i++) pool_get(leaked);
  pool_free(kept);
  printf("pools 2 freed 1\n");
  fflush(stdout);
  return 0; /* `leaked` is never freed */
}
