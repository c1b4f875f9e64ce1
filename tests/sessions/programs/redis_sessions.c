/* hiredis against the test's redis-server on 127.0.0.1:port.
 *   redis_sessions PORT per-request   5 requests, each on a context of its
 *                                     own (open_cache), never redisFree'd
 *   redis_sessions PORT reuse         one context for 5 requests, freed
 *   redis_sessions PORT failed        redisConnect to a port nothing listens
 *                                     on: c->err is set, and the error path
 *                                     returns without redisFree (the context
 *                                     is still allocated; its socket is
 *                                     closed by hiredis)
 * Prints "context <address>" for each context, "reply <n>" per request. */
#include <hiredis/hiredis.h>

#include "session_common.h"

LEAK_SITE static redisContext *open_cache(const char *port) {
  redisContext *c = redisConnect("127.0.0.1", atoi(port)); /* LEAK: open_cache */
  KEEP_FRAME();
  return c;
}

static void request(redisContext *c, int n) {
  redisReply *reply = redisCommand(c, "INCR connleak:test");
  must(reply != NULL && reply->type == REDIS_REPLY_INTEGER, "INCR");
  printf("reply %d\n", n);
  freeReplyObject(reply);
}

int main(int argc, char **argv) {
  if (argc < 3) return 99;
  const char *port = argv[1], *mode = argv[2];
  if (strcmp(mode, "failed") == 0) {
    redisContext *c = open_cache(port);
    if (c == NULL || c->err) {
      printf("context %p\nconnect failed: %s\n", (void *)c, c ? c->errstr : "?");
      return 0; /* the mistake: no redisFree(c) */
    }
    return 98;
  }
  int per_request = strcmp(mode, "per-request") == 0;
  redisContext *shared = per_request ? NULL : open_cache(port);
  for (int i = 0; i < 5; ++i) {
    redisContext *c = per_request ? open_cache(port) : shared;
    must(c != NULL && !c->err, "redisConnect");
    if (per_request || i == 0) printf("context %p\n", (void *)c);
    request(c, i);
  }
  if (shared) redisFree(shared);
  return 0;
}
