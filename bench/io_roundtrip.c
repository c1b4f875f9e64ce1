/* Small write()/read() round trips: the cost of the shim's I/O hooks, which
 * count bytes and the time of the last I/O per socket, and look up (and
 * ignore) every fd that is no socket.
 *
 *   bench_io_roundtrip [-w WARMUP] socketpair|pipe ROUND_TRIPS
 *
 * One round trip is four calls in one thread: write(a) 64 bytes, read(b)
 * them, write(b) 64 bytes back, read(a) them; on a connected AF_UNIX
 * socketpair (tracked sockets), or on two pipes (fds the shim only looks up).
 * One thread, so no context switch gets timed. Prints ns per round trip. */
#include <sys/socket.h>

#include "bench_common.h"

enum { kMessage = 64 };

static void round_trips(const int a[2], const int b[2], long count) {
  /* a[1] -> a[0], then b[1] -> b[0]; for a socketpair a[0]==b[1] and a[1]==b[0]. */
  char out[kMessage], in[kMessage];
  memset(out, 'x', sizeof out);
  for (long i = 0; i < count; i++) {
    if (write(a[1], out, sizeof out) != kMessage) bench_die("write");
    if (read(a[0], in, sizeof in) != kMessage) bench_die("read");
    if (write(b[1], in, sizeof in) != kMessage) bench_die("write");
    if (read(b[0], out, sizeof out) != kMessage) bench_die("read");
  }
}

int main(int argc, char **argv) {
  static const char *const modes[] = {"socketpair", "pipe", NULL};
  struct bench_args args = bench_parse(argc, argv, modes, 200000);
  int a[2], b[2];
  if (strcmp(args.mode, "socketpair") == 0) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) bench_die("socketpair");
    a[1] = sv[0], a[0] = sv[1]; /* sv[0] writes, sv[1] reads */
    b[1] = sv[1], b[0] = sv[0]; /* and back */
  } else {
    if (pipe(a) < 0 || pipe(b) < 0) bench_die("pipe");
  }
  round_trips(a, b, args.warmup);
  uint64_t start = bench_now_ns();
  round_trips(a, b, args.iterations);
  bench_print(bench_now_ns() - start, args.iterations);
  close(a[0]), close(a[1]);
  if (b[0] != a[1]) close(b[0]), close(b[1]);
  return 0;
}
