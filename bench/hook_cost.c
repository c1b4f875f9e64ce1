/* The shim's cost per call, measured inside one process, where machine drift
 * cannot reach it: blocks of the same loop alternate between calling libc
 * directly (function pointers from dlsym on libc itself, which no
 * LD_PRELOAD library can interpose) and calling through the program's normal
 * symbol binding (the shim's wrappers when it is preloaded, libc otherwise).
 *
 *   bench_hook_cost [-w WARMUP_BLOCKS] socket_close|io_socketpair|io_pipe BLOCK_PAIRS
 *
 *   socket_close   socket()+close(): 200 pairs a block
 *   io_socketpair  64-byte write/read round trips on a socketpair made
 *                  through the normal binding (so the shim tracks it): 1000 a block
 *   io_pipe        the same on two pipes (fds the shim only looks up)
 *
 * Block pairs run in ABBA order (direct, wrapped, wrapped, direct, ...), so a
 * steady drift cancels. Prints one line:
 *   RATIO DIRECT_NS WRAPPED_NS
 * RATIO is the median over block pairs of (wrapped block time / direct block
 * time); DIRECT_NS and WRAPPED_NS are the medians of ns per iteration. Run
 * without the shim, RATIO is the method's own noise floor (both sides call
 * libc), which scripts/bench shows as a control. */
#include <dlfcn.h>
#include <sys/socket.h>

#include "bench_common.h"

enum { kMessage = 64 };

struct calls {
  int (*socket)(int, int, int);
  int (*close)(int);
  ssize_t (*read)(int, void *, size_t);
  ssize_t (*write)(int, const void *, size_t);
};

static struct calls direct_calls(void) {
  void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  if (!libc) bench_die("dlopen libc.so.6: %s", dlerror());
  struct calls c = {dlsym(libc, "socket"), dlsym(libc, "close"), dlsym(libc, "read"), dlsym(libc, "write")};
  if (!c.socket || !c.close || !c.read || !c.write) bench_die("dlsym in libc: %s", dlerror());
  return c;
}

/* Through the program's own symbol binding: the shim's wrappers when it is
 * preloaded, libc's functions otherwise. */
static struct calls wrapped_calls(void) {
  struct calls c = {socket, close, read, write};
  return c;
}

struct workload {
  int a[2], b[2]; /* io: a[1] -> a[0], then b[1] -> b[0] */
  long per_block;
  int is_io;
};

static void socket_close_block(const struct calls *c, long pairs) {
  for (long i = 0; i < pairs; i++) {
    int fd = c->socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) bench_die("socket");
    c->close(fd);
  }
}

static void io_block(const struct calls *c, const int a[2], const int b[2], long round_trips) {
  char out[kMessage], in[kMessage];
  memset(out, 'x', sizeof out);
  for (long i = 0; i < round_trips; i++) {
    if (c->write(a[1], out, sizeof out) != kMessage) bench_die("write");
    if (c->read(a[0], in, sizeof in) != kMessage) bench_die("read");
    if (c->write(b[1], in, sizeof in) != kMessage) bench_die("write");
    if (c->read(b[0], out, sizeof out) != kMessage) bench_die("read");
  }
}

static uint64_t timed_block(const struct workload *w, const struct calls *c) {
  uint64_t start = bench_now_ns();
  if (w->is_io) {
    io_block(c, w->a, w->b, w->per_block);
  } else {
    socket_close_block(c, w->per_block);
  }
  return bench_now_ns() - start;
}

static int compare_doubles(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

static double median(double *values, long n) {
  qsort(values, (size_t)n, sizeof *values, compare_doubles);
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

static void open_io_fds(struct workload *w, const char *mode) {
  w->is_io = 1;
  w->per_block = 1000;
  if (strcmp(mode, "io_socketpair") == 0) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) bench_die("socketpair");
    w->a[1] = sv[0], w->a[0] = sv[1];
    w->b[1] = sv[1], w->b[0] = sv[0];
  } else if (pipe(w->a) < 0 || pipe(w->b) < 0) {
    bench_die("pipe");
  }
}

int main(int argc, char **argv) {
  static const char *const modes[] = {"socket_close", "io_socketpair", "io_pipe", NULL};
  struct bench_args args = bench_parse(argc, argv, modes, 500);
  struct calls direct = direct_calls(), wrapped = wrapped_calls();
  struct workload w = {0};
  if (strcmp(args.mode, "socket_close") == 0) {
    w.per_block = 200;
  } else {
    open_io_fds(&w, args.mode);
  }
  long warmup = args.warmup < 10 ? 10 : args.warmup;
  for (long i = 0; i < warmup; i++) timed_block(&w, i % 2 ? &direct : &wrapped);

  double *ratios = calloc((size_t)args.iterations, sizeof(double));
  double *direct_ns = calloc((size_t)args.iterations, sizeof(double));
  double *wrapped_ns = calloc((size_t)args.iterations, sizeof(double));
  if (!ratios || !direct_ns || !wrapped_ns) bench_die("calloc");
  for (long i = 0; i < args.iterations; i++) {
    uint64_t d, r;
    if (i % 2 == 0) {
      d = timed_block(&w, &direct);
      r = timed_block(&w, &wrapped);
    } else {
      r = timed_block(&w, &wrapped);
      d = timed_block(&w, &direct);
    }
    ratios[i] = (double)r / (double)d;
    direct_ns[i] = (double)d / (double)w.per_block;
    wrapped_ns[i] = (double)r / (double)w.per_block;
  }
  printf("%.5f %.1f %.1f\n", median(ratios, args.iterations), median(direct_ns, args.iterations),
         median(wrapped_ns, args.iterations));
  return 0;
}
