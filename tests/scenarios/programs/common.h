/* Helpers shared by the scenario programs: connect to the test's loopback
 * server, whose port is argv[1]. */
#ifndef SCENARIO_COMMON_H
#define SCENARIO_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static inline struct sockaddr_in server_address(const char *port) {
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)atoi(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

/* A function whose frame must appear in the report at -O2 too: never
 * inlined, cloned or split, and (with LEAK_RETURN) never left by a tail
 * call. */
#define LEAK_SITE __attribute__((noinline, noclone))
#define LEAK_RETURN(value)                 \
  do {                                     \
    int leak_result_ = (value);            \
    __asm__ volatile("" ::: "memory");     \
    return leak_result_;                   \
  } while (0)

static inline void must(int ok, const char *what) {
  if (!ok) {
    perror(what);
    exit(99);
  }
}

#endif
