/* A short command with exactly one finding, for the cost of `connleak run`'s
 * report (scripts/bench, bench/real_workloads.py).
 *
 *   bench_leak_once           one TCP connection left open at exit: one
 *                             leaked-connection finding
 *   bench_leak_once --close   the same connection, closed: no findings
 *
 * It makes its own listener on 127.0.0.1 (a port the kernel picks) with raw
 * system calls (raw_net.h), so the shim records only the client's socket()
 * and connect() (and close() with --close): the one finding is the client's
 * connection, not the listener or the accepted end. Both variants make the
 * same calls up to the close, so the difference between their `connleak
 * run` times is what a finding (its stack symbolized and printed) costs. */
#include <arpa/inet.h>

#include "bench_common.h"
#include "raw_net.h"

int main(int argc, char **argv) {
  int close_it = argc > 1 && strcmp(argv[1], "--close") == 0;
  if (argc > 2 || (argc == 2 && !close_it)) {
    errno = 0;
    bench_die("usage: %s [--close]", argv[0]);
  }
  struct sockaddr_in addr;
  int listener = raw_loopback_listener(&addr, 0);
  if (listener < 0) bench_die("loopback listener");
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) bench_die("socket");
  if (connect(fd, (const struct sockaddr *)&addr, sizeof addr) < 0) bench_die("connect");
  int peer = raw_accept4(listener, SOCK_CLOEXEC);
  if (peer < 0) bench_die("accept4");
  if (close_it) close(fd);
  /* The server side goes either way: the shim never saw it. */
  raw_close(peer);
  raw_close(listener);
  return 0;
}
