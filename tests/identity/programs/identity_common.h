// Shared helpers of the identity programs. Everything they print must be the
// same natively and under the shim when the shim is transparent: return
// values, errno names, fd numbers, fd listings (types, never inode numbers),
// never pids, times or addresses.
//
// Output goes straight to fd 1 with one write() per line (no stdio buffers:
// forks and signal handlers print too, and a crash must not lose lines).
#pragma once
// The programs pass bad pointers and unused helpers on purpose.
#pragma GCC diagnostic ignored "-Wnonnull"
#pragma GCC diagnostic ignored "-Wstringop-overread"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Warray-bounds"
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BAD_PTR ((void*)16)

// Formats into a stack buffer and writes it in one call; async-signal-safe
// enough for the formats used here (no floating point, no locale).
static void out(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char* fmt, ...) {
  char line[4096];
  va_list args;
  va_start(args, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, args);
  va_end(args);
  if (n < 0) return;
  if (n > (int)sizeof(line) - 1) n = sizeof(line) - 1;
  int saved = errno;
  for (int done = 0; done < n;) {
    ssize_t w = write(1, line + done, n - done);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      break;
    }
    done += w;
  }
  errno = saved;
}

static const char* errname(int e) {
  static __thread char unknown[32];
  const char* name = e ? strerrorname_np(e) : "0";
  if (name) return name;
  snprintf(unknown, sizeof(unknown), "errno%d", e);
  return unknown;
}

// "what = RESULT" or "what = -1 ENAME".
static void show_result(const char* what, long result, int err) {
  if (result < 0)
    out("%s = %ld %s\n", what, result, errname(err));
  else
    out("%s = %ld\n", what, result);
}

// Evaluates `call` once with errno cleared and prints its text, result and,
// on failure, errno.
#define SHOW(call)                       \
  do {                                   \
    errno = 0;                           \
    long show_r_ = (long)(call);         \
    int show_e_ = errno;                 \
    show_result(#call, show_r_, show_e_); \
  } while (0)

// Like SHOW, also keeps the result.
#define SHOW_AS(var, call)               \
  do {                                   \
    errno = 0;                           \
    var = (call);                        \
    int show_e_ = errno;                 \
    show_result(#call, (long)(var), show_e_); \
  } while (0)

// What an fd is, without run-dependent inode numbers.
static void fd_kind(int fd, char* kind, size_t size) {
  char path[64], target[512];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof(target) - 1);
  if (n < 0) {
    snprintf(kind, size, "?%s", errname(errno));
    return;
  }
  target[n] = '\0';
  if (strncmp(target, "socket:[", 8) == 0)
    snprintf(kind, size, "socket");
  else if (strncmp(target, "pipe:[", 6) == 0)
    snprintf(kind, size, "pipe");
  else
    snprintf(kind, size, "%s", target);
}

static int compare_ints(const void* a, const void* b) {
  int x = *(const int*)a, y = *(const int*)b;
  return (x > y) - (x < y);
}

// The fds of /proc/self/fd, sorted, without the directory's own fd; returns
// how many (at most `max`).
static int open_fds(int* fds, int max) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  int own = dirfd(dir), n = 0;
  struct dirent* entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.') continue;
    int fd = atoi(entry->d_name);
    if (fd != own && n < max) fds[n++] = fd;
  }
  closedir(dir);
  qsort(fds, n, sizeof(int), compare_ints);
  return n;
}

// "label: 0=/dev/null 1=pipe 2=pipe 3=socket": the fds below `below`.
static void list_fds_below(const char* label, int below) {
  static int fds[70000];
  int n = open_fds(fds, 70000);
  while (n > 0 && fds[n - 1] >= below) --n;
  if (n < 0) {
    out("%s: cannot list: %s\n", label, errname(errno));
    return;
  }
  char line[8192];
  size_t used = snprintf(line, sizeof(line), "%s: %d fds:", label, n);
  for (int i = 0; i < n; ++i) {
    char kind[512];
    fd_kind(fds[i], kind, sizeof(kind));
    if (used + strlen(kind) + 24 >= sizeof(line)) {
      out("%s\n", line);
      used = snprintf(line, sizeof(line), "%s (cont):", label);
    }
    used += snprintf(line + used, sizeof(line) - used, " %d=%s", fds[i], kind);
  }
  out("%s\n", line);
}

// The whole listing. Tests about other things than the fd table itself list
// only the low numbers they use (list_fds_below), so that one extra fd fails
// the listing tests, not every test.
static void list_fds(const char* label) { list_fds_below(label, INT_MAX); }

// The number of open fds and how many of them are sockets (for large tables).
static void count_fds(const char* label) {
  static int fds[70000];
  int n = open_fds(fds, 70000), sockets = 0;
  for (int i = 0; i < n; ++i) {
    char kind[512];
    fd_kind(fds[i], kind, sizeof(kind));
    sockets += strcmp(kind, "socket") == 0;
  }
  out("%s: %d fds, %d sockets, lowest %d, highest %d\n", label, n, sockets, n > 0 ? fds[0] : -1,
      n > 0 ? fds[n - 1] : -1);
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A TCP listener on 127.0.0.1 at a free port; dies on failure.
static int make_listener(int* port) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = loopback(0);
  socklen_t len = sizeof(a);
  if (l < 0 || bind(l, (struct sockaddr*)&a, sizeof(a)) != 0 || listen(l, SOMAXCONN) != 0 ||
      getsockname(l, (struct sockaddr*)&a, &len) != 0) {
    out("listener: %s\n", errname(errno));
    exit(3);
  }
  *port = ntohs(a.sin_port);
  return l;
}

// A connected TCP client socket to 127.0.0.1:port, or -1.
static int connect_to(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return -1;
  struct sockaddr_in a = loopback(port);
  if (connect(s, (struct sockaddr*)&a, sizeof(a)) != 0) {
    int e = errno;
    close(s);
    errno = e;
    return -1;
  }
  return s;
}

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

// Waits for `pid` at most `seconds`; a child still running then is killed
// with SIGKILL and reported as hung (a hang becomes output, not a stuck
// test). Returns the wait status, or -1 when it hung or could not be waited.
static int wait_child(pid_t pid, double seconds, int* hung) {
  double deadline = now_seconds() + seconds;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    if (now_seconds() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      if (hung) ++*hung;
      out("child hung\n");
      return -1;
    }
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
}

static void show_status(const char* what, int status) {
  if (status == -1)
    out("%s: hung or lost\n", what);
  else if (WIFEXITED(status))
    out("%s: exited %d\n", what, WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    out("%s: killed by signal %d\n", what, WTERMSIG(status));
  else
    out("%s: status 0x%x\n", what, status);
}

// Sets the soft RLIMIT_NOFILE (the hard one stays); prints nothing.
static int set_soft_nofile(rlim_t soft) {
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return -1;
  if (soft > r.rlim_max) soft = r.rlim_max;
  r.rlim_cur = soft;
  return setrlimit(RLIMIT_NOFILE, &r);
}

static rlim_t soft_nofile(void) {
  struct rlimit r;
  getrlimit(RLIMIT_NOFILE, &r);
  return r.rlim_cur;
}

// A program that hangs (a deadlock in a fork handler, say) prints one line
// and ends with status 99 after `seconds`, instead of stalling the test. Raw
// system calls: a hung hook must not stop the watchdog too.
static void* watchdog_thread(void* arg) {
  long seconds = (long)arg;
  struct timespec t = {seconds, 0};
  while (syscall(SYS_nanosleep, &t, &t) != 0) {
  }
  static const char line[] = "watchdog: still running, ended\n";
  syscall(SYS_write, 1, line, sizeof(line) - 1);
  syscall(SYS_exit_group, 99);
  return NULL;
}

static void start_watchdog(long seconds) {
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  // The program's signals go to its own threads, never to the watchdog.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_create(&t, &attr, watchdog_thread, (void*)seconds);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
}

// Case dispatch: each program is a table of named cases.
struct identity_case {
  const char* name;
  void (*run)(int argc, char** argv);
};

static int run_case(const struct identity_case* cases, int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CASE\n", argv[0]);
    return 2;
  }
  for (const struct identity_case* c = cases; c->name; ++c) {
    if (strcmp(c->name, argv[1]) == 0) {
      c->run(argc, argv);
      return 0;
    }
  }
  fprintf(stderr, "%s: no case %s\n", argv[0], argv[1]);
  return 2;
}
