/* Shared by the benchmark programs in bench/ (scripts/bench runs them).
 *
 * Every program takes the same options,
 *   PROGRAM [-t THREADS] [-w WARMUP] [MODE] ITERATIONS
 * runs WARMUP untimed iterations (default: min(1000, ITERATIONS/10)), then
 * ITERATIONS timed ones, and prints one line on stdout: the nanoseconds per
 * timed iteration, measured with CLOCK_MONOTONIC around the timed loop only
 * (so neither process start-up nor the warm-up counts). */
#ifndef CONNLEAK_BENCH_COMMON_H
#define CONNLEAK_BENCH_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bench_die(const char *fmt, ...) {
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  fputs("bench: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (saved) fprintf(stderr, ": %s", strerror(saved));
  fputc('\n', stderr);
  exit(1);
}

struct bench_args {
  long iterations;
  long warmup;
  int threads;
  const char *mode; /* NULL unless the program takes one */
};

static inline long bench_parse_count(const char *text, const char *what) {
  char *end = NULL;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno || !end || *end || value < 0) {
    errno = 0;
    bench_die("%s must be a non-negative integer, not '%s'", what, text);
  }
  return value;
}

/* `modes` is a NULL-terminated list of accepted MODE words, or NULL when the
 * program takes no MODE. */
static inline struct bench_args bench_parse(int argc, char **argv, const char *const *modes,
                                            long default_iterations) {
  struct bench_args args = {default_iterations, -1, 1, NULL};
  int opt;
  while ((opt = getopt(argc, argv, "t:w:")) != -1) {
    switch (opt) {
      case 't': args.threads = (int)bench_parse_count(optarg, "-t THREADS"); break;
      case 'w': args.warmup = bench_parse_count(optarg, "-w WARMUP"); break;
      default: exit(2);
    }
  }
  if (modes) {
    if (optind >= argc) {
      errno = 0;
      bench_die("usage: %s [-t THREADS] [-w WARMUP] MODE ITERATIONS", argv[0]);
    }
    args.mode = argv[optind++];
    int known = 0;
    for (const char *const *m = modes; *m; ++m) known |= strcmp(*m, args.mode) == 0;
    if (!known) {
      errno = 0;
      bench_die("unknown mode '%s'", args.mode);
    }
  }
  if (optind < argc) args.iterations = bench_parse_count(argv[optind++], "ITERATIONS");
  if (args.iterations < 1 || args.threads < 1) {
    errno = 0;
    bench_die("ITERATIONS and THREADS must be at least 1");
  }
  if (args.warmup < 0) args.warmup = args.iterations / 10 < 1000 ? args.iterations / 10 : 1000;
  return args;
}

static inline void bench_print(uint64_t elapsed_ns, long iterations) {
  printf("%.1f\n", (double)elapsed_ns / (double)iterations);
  fflush(stdout);
}

#endif
