/* libcurl requests to a loopback HTTP/1.1 keep-alive server: the cost of the
 * session hooks (curl_easy_init/perform/cleanup) plus the socket and I/O
 * hooks, as a real client sees them.
 *
 *   bench_curl_requests [-w WARMUP] reuse|new REQUESTS
 *
 *   reuse  one easy handle for every request: one connection, kept alive
 *   new    a new easy handle per request, cleaned up after it (so a new
 *          connection per request)
 *
 * Prints the nanoseconds per request. The server is a thread of this program:
 * one epoll loop answering every request with a fixed 2-byte body, made of
 * raw system calls (raw_net.h), so that it costs little next to libcurl and
 * connleak records only the client's side. Its sockets reset on close, and in
 * `new` mode so do the client's (CURLOPT_SOCKOPTFUNCTION sets SO_LINGER 0),
 * so no TIME_WAIT sockets pile up between runs.
 *
 * The whole process (client and server thread) is pinned to one CPU: each
 * request is then two context switches on that CPU. Unpinned, the two threads
 * wake each other across CPUs, and on a VM that wake-up latency alone varies
 * by 3x from run to run (measured: 28-92 us per request), which would drown
 * the client's cost. */
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include "bench_common.h"
#include "raw_net.h"

static const char kResponse[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

struct connection {
  int fd;
  size_t used;
  char buf[8192];
};

struct server {
  int listener;
  int stop; /* an eventfd */
  int epoll;
  struct sockaddr_in addr;
  pthread_t thread;
};

static char kListenerTag, kStopTag;

static void drop(struct server *s, struct connection *c) {
  raw_epoll_ctl(s->epoll, EPOLL_CTL_DEL, c->fd, NULL);
  raw_close(c->fd);
  free(c);
}

/* Answers every complete request (headers end with an empty line; the
 * benchmark sends GETs without a body). */
static int serve(struct connection *c) {
  for (;;) {
    ssize_t n = raw_read(c->fd, c->buf + c->used, sizeof c->buf - c->used);
    if (n == 0) return -1;
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    c->used += (size_t)n;
    char *start = c->buf;
    char *end;
    while ((end = memmem(start, c->used - (size_t)(start - c->buf), "\r\n\r\n", 4))) {
      if (raw_write(c->fd, kResponse, sizeof kResponse - 1) != (ssize_t)(sizeof kResponse - 1))
        return -1;
      start = end + 4;
    }
    c->used -= (size_t)(start - c->buf);
    memmove(c->buf, start, c->used);
    if (c->used == sizeof c->buf) return -1; /* no request is that large */
  }
}

static void *server_main(void *arg) {
  struct server *s = arg;
  struct epoll_event events[16];
  for (;;) {
    int n = raw_epoll_wait(s->epoll, events, 16, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      bench_die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      void *tag = events[i].data.ptr;
      if (tag == &kStopTag) return NULL;
      if (tag == &kListenerTag) {
        int fd;
        while ((fd = raw_accept4(s->listener, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          int one = 1;
          raw_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct connection *c = malloc(sizeof *c);
          if (!c) bench_die("malloc");
          c->fd = fd;
          c->used = 0;
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
          if (raw_epoll_ctl(s->epoll, EPOLL_CTL_ADD, fd, &ev) < 0) bench_die("epoll_ctl");
        }
        continue;
      }
      struct connection *c = tag;
      if (serve(c) < 0) drop(s, c);
    }
  }
}

static void server_start(struct server *s) {
  s->listener = raw_loopback_listener(&s->addr, SOCK_NONBLOCK);
  s->stop = raw_eventfd(0, O_CLOEXEC);
  s->epoll = raw_epoll_create1(EPOLL_CLOEXEC);
  if (s->listener < 0 || s->stop < 0 || s->epoll < 0) bench_die("server set-up");
  struct epoll_event listen_ev = {.events = EPOLLIN, .data.ptr = &kListenerTag};
  struct epoll_event stop_ev = {.events = EPOLLIN, .data.ptr = &kStopTag};
  if (raw_epoll_ctl(s->epoll, EPOLL_CTL_ADD, s->listener, &listen_ev) < 0 ||
      raw_epoll_ctl(s->epoll, EPOLL_CTL_ADD, s->stop, &stop_ev) < 0)
    bench_die("epoll_ctl");
  if ((errno = pthread_create(&s->thread, NULL, server_main, s))) bench_die("pthread_create");
}

static void server_stop(struct server *s) {
  uint64_t one = 1;
  raw_write(s->stop, &one, sizeof one);
  pthread_join(s->thread, NULL);
}

static size_t discard(char *data, size_t size, size_t count, void *user) {
  (void)data, (void)user;
  return size * count;
}

static int reset_on_close(void *user, curl_socket_t fd, curlsocktype purpose) {
  (void)user, (void)purpose;
  struct linger reset = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  return CURL_SOCKOPT_OK;
}

static CURL *new_handle(const char *url, int reset) {
  CURL *h = curl_easy_init();
  if (!h) bench_die("curl_easy_init");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_PROXY, "");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  if (reset) curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, reset_on_close);
  return h;
}

static void perform(CURL *h) {
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    errno = 0;
    bench_die("curl_easy_perform: %s", curl_easy_strerror(rc));
  }
}

static void requests(CURL *reused, const char *url, long count) {
  for (long i = 0; i < count; i++) {
    if (reused) {
      perform(reused);
    } else {
      CURL *h = new_handle(url, 1);
      perform(h);
      curl_easy_cleanup(h);
    }
  }
}

/* Pins the calling thread (and the threads it creates) to the last CPU it may
 * run on. */
static void pin_to_one_cpu(void) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) < 0) return;
  for (int cpu = CPU_SETSIZE - 1; cpu >= 0; cpu--) {
    if (CPU_ISSET(cpu, &allowed)) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      sched_setaffinity(0, sizeof one, &one);
      return;
    }
  }
}

int main(int argc, char **argv) {
  static const char *const modes[] = {"reuse", "new", NULL};
  struct bench_args args = bench_parse(argc, argv, modes, 5000);
  pin_to_one_cpu();
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) bench_die("curl_global_init");
  struct server server;
  server_start(&server);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)ntohs(server.addr.sin_port));

  CURL *reused = strcmp(args.mode, "reuse") == 0 ? new_handle(url, 0) : NULL;
  requests(reused, url, args.warmup ? args.warmup : (reused ? 1 : 0));
  uint64_t start = bench_now_ns();
  requests(reused, url, args.iterations);
  bench_print(bench_now_ns() - start, args.iterations);
  if (reused) curl_easy_cleanup(reused);

  server_stop(&server);
  curl_global_cleanup();
  return 0;
}
