/* socket()+close() pairs in a tight loop: the cost of the shim's two most
 * common records (and of unwinding a stack for each socket()).
 *
 *   bench_socket_close [-t THREADS] [-w WARMUP] PAIRS
 *
 * Prints the nanoseconds per pair. With -t THREADS the PAIRS are split over
 * THREADS threads that start together, and the result is wall time / PAIRS
 * (throughput, all threads together), the wall time running from the first
 * thread's start to the last one's end as the threads themselves saw them
 * (so a main thread scheduled late, as under valgrind, which runs one thread
 * at a time, cannot shorten it). Run it with and without the shim to get
 * the shim's cost (scripts/bench). */
#include <pthread.h>
#include <sys/socket.h>

#include "bench_common.h"

struct worker {
  pthread_t thread;
  long pairs;
  long warmup;
  pthread_barrier_t *start;
  uint64_t start_ns, end_ns;
};

static void pairs_loop(long pairs) {
  for (long i = 0; i < pairs; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) bench_die("socket");
    close(fd);
  }
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  pairs_loop(w->warmup);
  pthread_barrier_wait(w->start);
  w->start_ns = bench_now_ns();
  pairs_loop(w->pairs);
  w->end_ns = bench_now_ns();
  return NULL;
}

int main(int argc, char **argv) {
  struct bench_args args = bench_parse(argc, argv, NULL, 200000);
  if (args.threads == 1) {
    pairs_loop(args.warmup);
    uint64_t start = bench_now_ns();
    pairs_loop(args.iterations);
    bench_print(bench_now_ns() - start, args.iterations);
    return 0;
  }

  pthread_barrier_t start_barrier;
  pthread_barrier_init(&start_barrier, NULL, (unsigned)args.threads + 1);
  struct worker *workers = calloc((size_t)args.threads, sizeof *workers);
  if (!workers) bench_die("calloc");
  for (int t = 0; t < args.threads; t++) {
    workers[t].pairs = args.iterations / args.threads + (t < args.iterations % args.threads);
    workers[t].warmup = args.warmup / args.threads;
    workers[t].start = &start_barrier;
    if ((errno = pthread_create(&workers[t].thread, NULL, worker_main, &workers[t])))
      bench_die("pthread_create");
  }
  pthread_barrier_wait(&start_barrier); /* every worker has warmed up */
  uint64_t first_start = UINT64_MAX, last_end = 0;
  for (int t = 0; t < args.threads; t++) {
    pthread_join(workers[t].thread, NULL);
    if (workers[t].start_ns < first_start) first_start = workers[t].start_ns;
    if (workers[t].end_ns > last_end) last_end = workers[t].end_ns;
  }
  bench_print(last_end - first_start, args.iterations);
  free(workers);
  return 0;
}
