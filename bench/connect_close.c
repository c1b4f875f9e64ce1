/* socket()+connect()+close() to a loopback listener: the cost of recording a
 * connection (the Connect record carries the peer address).
 *
 *   bench_connect_close [-w WARMUP] CONNECTIONS
 *
 * Prints the nanoseconds per connection. The program is its own server: it
 * listens on 127.0.0.1 (a port the kernel picks) and, in the same thread,
 * accepts each connection right after connect() returned (on loopback the
 * handshake is complete by then) and closes it. The server side uses raw
 * system calls (raw_net.h), so under connleak only the client's socket(),
 * connect() and close() are recorded; it resets its end on close, so no
 * TIME_WAIT sockets pile up. One thread, no context switches: the loop
 * measures the calls, not the scheduler. */
#include <arpa/inet.h>

#include "bench_common.h"
#include "raw_net.h"

static void connections(int listener, const struct sockaddr_in *addr, long count) {
  for (long i = 0; i < count; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) bench_die("socket");
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0) bench_die("connect");
    int peer = raw_accept4(listener, SOCK_CLOEXEC);
    if (peer < 0) bench_die("accept4");
    close(fd);
    raw_close(peer);
  }
}

int main(int argc, char **argv) {
  struct bench_args args = bench_parse(argc, argv, NULL, 20000);
  struct sockaddr_in addr;
  int listener = raw_loopback_listener(&addr, 0);
  if (listener < 0) bench_die("loopback listener");
  connections(listener, &addr, args.warmup);
  uint64_t start = bench_now_ns();
  connections(listener, &addr, args.iterations);
  bench_print(bench_now_ns() - start, args.iterations);
  raw_close(listener);
  return 0;
}
