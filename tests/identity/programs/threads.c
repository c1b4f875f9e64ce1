// Threads, forks and signal handlers around the hooked calls: many threads
// churning sockets, fork from threads, from signal handlers and while other
// threads are deep in their stacks, hooked calls on small thread stacks and
// on an alternate signal stack, in thread-key destructors and at exit.
// Only aggregate, deterministic results are printed; every wait for a child
// has a timeout ("child hung") and a watchdog ends a hung program.
#include "identity_common.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <sys/time.h>
#include <sys/uio.h>

// --- 64 threads churning sockets, one leak each ---------------------------

enum { kChurnThreads = 64, kChurnRounds = 20 };
static int churn_port;
static atomic_int churn_closed, churn_leaked, churn_errors, churn_accepted, churn_target = -1;

static void* churn_worker(void* arg) {
  for (int i = 0; i < kChurnRounds; ++i) {
    int s = connect_to(churn_port);
    if (s < 0) {
      ++churn_errors;
      continue;
    }
    if (write(s, "x", 1) != 1) ++churn_errors;
    if (close(s) != 0) ++churn_errors;
    ++churn_closed;
  }
  int leak = connect_to(churn_port);  // never closed
  if (leak >= 0)
    ++churn_leaked;
  else
    ++churn_errors;
  return NULL;
}

static void* churn_acceptor(void* arg) {
  int l = *(int*)arg;
  double deadline = now_seconds() + 8;
  while (now_seconds() < deadline) {
    int target = churn_target;
    if (target >= 0 && churn_accepted >= target) break;
    struct pollfd p = {l, POLLIN, 0};
    if (poll(&p, 1, 50) != 1) continue;
    int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (a >= 0) {
      ++churn_accepted;
      close(a);
    }
  }
  return NULL;
}

static int open_sockets(void) {
  static int fds[70000];
  int n = open_fds(fds, 70000), sockets = 0;
  for (int i = 0; i < n; ++i) {
    char kind[512];
    fd_kind(fds[i], kind, sizeof(kind));
    sockets += strcmp(kind, "socket") == 0;
  }
  return sockets;
}

static void churn64(int argc, char** argv) {
  start_watchdog(10);
  int l = make_listener(&churn_port);
  pthread_t acceptor, workers[kChurnThreads];
  pthread_create(&acceptor, NULL, churn_acceptor, &l);
  int created = 0;
  for (int i = 0; i < kChurnThreads; ++i) created += pthread_create(&workers[i], NULL, churn_worker, NULL) == 0;
  for (int i = 0; i < kChurnThreads; ++i) pthread_join(workers[i], NULL);
  out("%d threads done\n", created);
  churn_target = churn_closed + churn_leaked;
  pthread_join(acceptor, NULL);
  out("%d connections closed, %d leaked, %d errors, %d accepted\n", (int)churn_closed, (int)churn_leaked,
      (int)churn_errors, (int)churn_accepted);
  close(l);
  out("open sockets: %d\n", open_sockets());
}

// --- fork from threads while others churn ----------------------------------

static atomic_int stop_flag;

static void* socket_churner(void* arg) {
  while (!stop_flag) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int d = dup(s);
    close(d);
    close(s);
  }
  return NULL;
}

enum { kForkers = 4, kForksEach = 8 };
static atomic_int forked_ok, forked_other, forked_hung;

static void* forker(void* arg) {
  for (int i = 0; i < kForksEach; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      int s = socket(AF_INET, SOCK_STREAM, 0);
      int c = s >= 0 ? close(s) : -1;
      _exit(s >= 0 && c == 0 ? 0 : 1);
    }
    if (pid < 0) {
      ++forked_other;
      continue;
    }
    int hung = 0;
    int status = wait_child(pid, 5, &hung);
    if (hung) {
      ++forked_hung;
      break;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
      ++forked_ok;
    else
      ++forked_other;
  }
  return NULL;
}

static void fork_from_threads(int argc, char** argv) {
  start_watchdog(10);
  pthread_t churners[4], forkers[kForkers];
  for (int i = 0; i < 4; ++i) pthread_create(&churners[i], NULL, socket_churner, NULL);
  for (int i = 0; i < kForkers; ++i) pthread_create(&forkers[i], NULL, forker, NULL);
  for (int i = 0; i < kForkers; ++i) pthread_join(forkers[i], NULL);
  stop_flag = 1;
  for (int i = 0; i < 4; ++i) pthread_join(churners[i], NULL);
  out("%d children from %d threads: %d exited 0, %d other, %d hung\n", kForkers * kForksEach, kForkers,
      (int)forked_ok, (int)forked_other, (int)forked_hung);
  out("next socket fd = %d\n", socket(AF_INET, SOCK_STREAM, 0));
}

// --- fork in signal handlers -------------------------------------------------

static volatile pid_t handler_child = -1;

static void fork_handler(int sig) {
  pid_t pid = fork();
  if (pid == 0) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int t = socket(AF_UNIX, SOCK_DGRAM, 0);
    out("child of the signal %d handler: sockets %d %d\n", sig, s, t);
    close(s);
    _exit(0);
  }
  handler_child = pid;
}

static void fork_in_sigusr1_handler(int argc, char** argv) {
  start_watchdog(10);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = fork_handler;
  sigaction(SIGUSR1, &sa, NULL);
  for (int i = 0; i < 3; ++i) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    out("parent socket %d\n", s);
    raise(SIGUSR1);
    show_status("handler child", wait_child(handler_child, 5, NULL));
  }
  out("next socket fd = %d\n", socket(AF_INET, SOCK_STREAM, 0));
}

// Every `ms` until disarmed (ms 0): should the first signal come before the
// call blocks, the next one interrupts it.
static void arm_timer_ms(int ms) {
  struct itimerval t;
  memset(&t, 0, sizeof(t));
  t.it_value.tv_sec = t.it_interval.tv_sec = ms / 1000;
  t.it_value.tv_usec = t.it_interval.tv_usec = (ms % 1000) * 1000;
  setitimer(ITIMER_REAL, &t, NULL);
}

// Forks once per round, however many times the timer fires.
static void fork_once_handler(int sig) {
  if (handler_child == -1) fork_handler(sig);
}

// A blocking hooked call interrupted by SIGALRM, whose handler forks.
static void fork_in_sigalrm_during_blocking_calls(int argc, char** argv) {
  start_watchdog(10);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = fork_once_handler;  // no SA_RESTART: the call fails with EINTR
  sigaction(SIGALRM, &sa, NULL);
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  int port;
  int l = make_listener(&port);
  char buf[4];
  long r;
  int e;
  const char* names[] = {"read", "recv", "recvmsg", "accept", "readv"};
  for (int i = 0; i < 5; ++i) {
    handler_child = -1;
    arm_timer_ms(50);
    errno = 0;
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr m;
    memset(&m, 0, sizeof(m));
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    switch (i) {
      case 0: r = read(sv[0], buf, sizeof(buf)); break;
      case 1: r = recv(sv[0], buf, sizeof(buf), 0); break;
      case 2: r = recvmsg(sv[0], &m, 0); break;
      case 3: r = accept(l, NULL, NULL); break;
      default: r = readv(sv[0], &iov, 1); break;
    }
    e = errno;
    arm_timer_ms(0);
    show_status("handler child", handler_child > 0 ? wait_child(handler_child, 5, NULL) : -1);
    show_result(names[i], r, e);
  }
  out("next socket fd = %d\n", socket(AF_INET, SOCK_STREAM, 0));
}

// A timer forks in its handler, at any moment of the main thread's loop of
// hooked calls.
enum { kTimerForks = 20 };
static volatile sig_atomic_t timer_forks;
static pid_t timer_children[kTimerForks];

static void timer_fork_handler(int sig) {
  if (timer_forks >= kTimerForks) return;
  int saved = errno;
  pid_t pid = fork();
  if (pid == 0) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int c = s >= 0 ? close(s) : -1;
    _exit(s >= 0 && c == 0 ? 0 : 1);
  }
  timer_children[timer_forks++] = pid;
  errno = saved;
}

static void fork_in_timer_handler_during_churn(int argc, char** argv) {
  start_watchdog(10);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = timer_fork_handler;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval t;
  memset(&t, 0, sizeof(t));
  t.it_value.tv_usec = 2000;
  t.it_interval.tv_usec = 2000;
  setitimer(ITIMER_REAL, &t, NULL);
  struct sockaddr_in discard = loopback(9);
  double deadline = now_seconds() + 5;
  long rounds = 0, errors = 0;
  while (timer_forks < kTimerForks && now_seconds() < deadline) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0 || connect(s, (struct sockaddr*)&discard, sizeof(discard)) != 0) ++errors;
    int d = dup(s);
    if (close(d) != 0 || close(s) != 0) ++errors;
    ++rounds;
  }
  memset(&t, 0, sizeof(t));
  setitimer(ITIMER_REAL, &t, NULL);
  int ok = 0, other = 0, hung = 0;
  for (int i = 0; i < timer_forks && !hung; ++i) {
    int status = wait_child(timer_children[i], 5, &hung);
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      ++ok;
    else
      ++other;
  }
  out("%d forks in the timer handler: %d exited 0, %d other, %d hung; loop errors %ld\n", (int)timer_forks, ok,
      other, hung, errors);
}

// --- fork while other threads unwind deep stacks ----------------------------

__attribute__((noinline)) static int deep(int n) {
  volatile char pad[64];
  pad[0] = (char)n;
  if (n > 0) {
    int r = deep(n - 1);
    __asm__ volatile("" ::: "memory");
    return r + pad[0];
  }
  while (!stop_flag) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    close(s);
  }
  return pad[0];
}

static void* deep_thread(void* arg) {
  deep(200);
  return NULL;
}

// Loads and unloads a library in a loop: the loader's locks are taken all
// the time, and unwinders' caches of the module list go stale.
static void* dlopen_churner(void* arg) {
  while (!stop_flag) {
    void* h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    if (h) dlclose(h);
  }
  return NULL;
}

static void fork_while_unwinding(int argc, char** argv) {
  start_watchdog(10);
  pthread_t threads[5];
  for (int i = 0; i < 4; ++i) pthread_create(&threads[i], NULL, deep_thread, NULL);
  pthread_create(&threads[4], NULL, dlopen_churner, NULL);
  struct timespec pause = {0, 20 * 1000 * 1000};
  nanosleep(&pause, NULL);
  int ok = 0, other = 0, hung = 0, forks = 0;
  for (int i = 0; i < 50 && !hung; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      int s = socket(AF_INET, SOCK_STREAM, 0);
      _exit(s >= 0 ? 0 : 1);
    }
    ++forks;
    int status = wait_child(pid, 5, &hung);
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      ++ok;
    else if (!hung)
      ++other;
  }
  stop_flag = 1;
  for (int i = 0; i < 5; ++i) pthread_join(threads[i], NULL);
  out("%d children: %d exited 0, %d other, %d hung; 5 threads done\n", forks, ok, other, hung);
}

// --- hooked calls on small stacks ---------------------------------------------

struct small_stack_run {
  size_t stack_size;
  size_t leave;  // bytes left free when the calls are made; 0: no recursion
  int listener;
  int port;
  long results[12];
  int errors[12];
  int reached;
};

static const char* small_names[] = {"socket", "connect", "accept", "write", "read", "dup",
                                    "send", "recv", "close(dup)", "close(accepted)", "fork+wait", "close"};

#define SMALL_CALL(i, call)      \
  do {                           \
    errno = 0;                   \
    run->results[i] = (call);    \
    run->errors[i] = errno;      \
  } while (0)

__attribute__((noinline)) static void small_stack_calls(struct small_stack_run* run) {
  char buf[8];
  struct sockaddr_in a = loopback(run->port);
  int s, acc, d;
  SMALL_CALL(0, s = socket(AF_INET, SOCK_STREAM, 0));
  SMALL_CALL(1, connect(s, (struct sockaddr*)&a, sizeof(a)));
  SMALL_CALL(2, acc = accept(run->listener, NULL, NULL));
  SMALL_CALL(3, write(s, "ping", 4));
  SMALL_CALL(4, read(acc, buf, 4));
  SMALL_CALL(5, d = dup(acc));
  SMALL_CALL(6, send(d, "pong", 4, 0));
  SMALL_CALL(7, recv(s, buf, 4, MSG_WAITALL));
  SMALL_CALL(8, close(d));
  SMALL_CALL(9, close(acc));
  pid_t pid;
  SMALL_CALL(10, pid = fork());
  if (pid == 0) _exit(0);
  if (pid > 0) {
    int status = -1, waited = 0;
    for (int i = 0; i < 5000 && waited == 0; ++i) {
      waited = waitpid(pid, &status, WNOHANG);
      struct timespec t = {0, 1000000};
      if (waited == 0) nanosleep(&t, NULL);
    }
    if (waited == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    run->results[10] = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
  }
  SMALL_CALL(11, close(s));
  run->reached = 1;
}

__attribute__((noinline)) static void recurse_until(struct small_stack_run* run, char* low) {
  volatile char frame[1024];
  frame[0] = 1;
  char* here = (char*)__builtin_frame_address(0);
  if (run->leave && here - low > (long)(run->leave + sizeof(frame) + 256)) {
    recurse_until(run, low);
    frame[1] = frame[0];
    __asm__ volatile("" ::: "memory");
    return;
  }
  small_stack_calls(run);
  __asm__ volatile("" ::: "memory");
}

static void* small_stack_thread(void* arg) {
  struct small_stack_run* run = arg;
  pthread_attr_t attr;
  void* low = NULL;
  size_t size = 0;
  pthread_getattr_np(pthread_self(), &attr);
  pthread_attr_getstack(&attr, &low, &size);
  pthread_attr_destroy(&attr);
  recurse_until(run, low);
  return NULL;
}

static void run_small_stack(size_t stack_size, size_t leave) {
  start_watchdog(10);
  struct small_stack_run run;
  memset(&run, 0, sizeof(run));
  run.stack_size = stack_size;
  run.leave = leave;
  run.listener = make_listener(&run.port);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  SHOW(pthread_attr_setstacksize(&attr, stack_size));
  pthread_t t;
  int created = pthread_create(&t, &attr, small_stack_thread, &run);
  out("pthread_create = %d\n", created);
  if (created == 0) pthread_join(t, NULL);
  out("calls reached: %d\n", run.reached);
  for (int i = 0; i < 12; ++i) show_result(small_names[i], run.results[i], run.errors[i]);
  out("next socket fd = %d\n", socket(AF_INET, SOCK_STREAM, 0));
}

static void small_stack_16k(int argc, char** argv) { run_small_stack(16384, 7 * 1024); }

static void small_stack_min(int argc, char** argv) {
  long min = sysconf(_SC_THREAD_STACK_MIN);
  if (min < PTHREAD_STACK_MIN) min = PTHREAD_STACK_MIN;
  run_small_stack((size_t)min, 0);
}

// --- hooked calls on a small alternate signal stack --------------------------

static int altstack_pair[2];
static long altstack_results[6];
static int altstack_errors[6];

static void altstack_handler(int sig) {
  int saved = errno;
  char byte;
  int s, d;
  errno = 0;
  altstack_results[0] = s = socket(AF_INET, SOCK_STREAM, 0);
  altstack_errors[0] = errno;
  altstack_results[1] = write(altstack_pair[0], "s", 1);
  altstack_errors[1] = errno;
  altstack_results[2] = read(altstack_pair[1], &byte, 1);
  altstack_errors[2] = errno;
  altstack_results[3] = d = dup(s);
  altstack_errors[3] = errno;
  altstack_results[4] = close(d);
  altstack_errors[4] = errno;
  altstack_results[5] = close(s);
  altstack_errors[5] = errno;
  errno = saved;
}

static void hooks_on_sigaltstack(int argc, char** argv) {
  start_watchdog(10);
  socketpair(AF_UNIX, SOCK_STREAM, 0, altstack_pair);
  long min = sysconf(_SC_MINSIGSTKSZ);
  if (min < MINSIGSTKSZ) min = MINSIGSTKSZ;
  stack_t ss;
  memset(&ss, 0, sizeof(ss));
  ss.ss_size = (size_t)min + 6 * 1024;  // a few KiB beyond the kernel's frame
  ss.ss_sp = malloc(ss.ss_size);
  SHOW(sigaltstack(&ss, NULL));
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = altstack_handler;
  sa.sa_flags = SA_ONSTACK;
  sigaction(SIGUSR2, &sa, NULL);
  const char* names[] = {"socket", "write", "read", "dup", "close(dup)", "close"};
  for (int round = 0; round < 3; ++round) {
    memset(altstack_results, 0, sizeof(altstack_results));
    raise(SIGUSR2);
    for (int i = 0; i < 6; ++i) show_result(names[i], altstack_results[i], altstack_errors[i]);
  }
  out("next socket fd = %d\n", socket(AF_INET, SOCK_STREAM, 0));
}

// --- hooked calls in a thread-key destructor --------------------------------

static pthread_key_t key;
static int key_port;
static long key_results[4];
static int key_errors[4];

static void key_destructor(void* value) {
  struct sockaddr_in a = loopback(key_port);
  errno = 0;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  key_results[0] = s;
  key_errors[0] = errno;
  key_results[1] = connect(s, (struct sockaddr*)&a, sizeof(a));
  key_errors[1] = errno;
  key_results[2] = write(s, "bye", 3);
  key_errors[2] = errno;
  key_results[3] = close(s);
  key_errors[3] = errno;
}

static void* key_thread(void* arg) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  close(s);
  pthread_setspecific(key, (void*)1);
  return NULL;
}

static void socket_in_key_destructor(int argc, char** argv) {
  start_watchdog(10);
  int l = make_listener(&key_port);
  pthread_key_create(&key, key_destructor);
  const char* names[] = {"socket", "connect", "write", "close"};
  for (int round = 0; round < 3; ++round) {
    pthread_t t;
    pthread_create(&t, NULL, key_thread, NULL);
    pthread_join(t, NULL);
    for (int i = 0; i < 4; ++i) show_result(names[i], key_results[i], key_errors[i]);
    int a = accept(l, NULL, NULL);
    char buf[4] = {0};
    long n = read(a, buf, 3);
    out("peer read %ld \"%s\"\n", n, buf);
    close(a);
  }
  out("next socket fd = %d\n", socket(AF_INET, SOCK_STREAM, 0));
}

// --- hooked calls at exit: atexit handlers and destructors ------------------

static int at_exit_case, at_exit_listener = -1, at_exit_port;

static void exit_socket_ops(const char* when) {
  struct sockaddr_in a = loopback(at_exit_port);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int c = connect(s, (struct sockaddr*)&a, sizeof(a));
  int acc = accept(at_exit_listener, NULL, NULL);
  long w = write(s, "z", 1);
  char byte = 0;
  long r = read(acc, &byte, 1);
  int d = dup(s);
  out("%s: socket %d connect %d accept %d write %ld read %ld dup %d close %d %d %d\n", when, s, c, acc, w, r, d,
      close(d), close(acc), close(s));
}

static void at_exit_handler(void) { exit_socket_ops("atexit"); }

__attribute__((destructor)) static void at_exit_destructor(void) {
  if (at_exit_case) exit_socket_ops("destructor");
}

static void socket_ops_at_exit(int argc, char** argv) {
  at_exit_case = 1;
  at_exit_listener = make_listener(&at_exit_port);
  atexit(at_exit_handler);
  exit_socket_ops("main");
}

// --- allocation churn with sockets (for preloaded allocators) ---------------

static atomic_int alloc_sockets, alloc_errors;

static void* alloc_worker(void* arg) {
  long id = (long)arg;
  for (int i = 0; i < 200; ++i) {
    size_t size = 16 + (size_t)((i * 7919 + id * 104729) % 65536);
    char* p = malloc(size);
    memset(p, (int)i, size);
    p = realloc(p, size * 2);
    void* q = NULL;
    if (posix_memalign(&q, 64, 4096) != 0) ++alloc_errors;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) ++alloc_errors;
    char* c = calloc(1, 128);
    if (close(s) != 0) ++alloc_errors;
    ++alloc_sockets;
    free(c);
    free(q);
    free(p);
  }
  return NULL;
}

static void alloc_churn(int argc, char** argv) {
  start_watchdog(10);
  list_fds_below("at start", 100);
  pthread_t t[8];
  for (long i = 0; i < 8; ++i) pthread_create(&t[i], NULL, alloc_worker, (void*)i);
  pid_t pid = fork();
  if (pid == 0) {
    char* p = malloc(1 << 20);
    memset(p, 1, 1 << 20);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    free(p);
    _exit(s >= 0 ? 0 : 1);
  }
  for (int i = 0; i < 8; ++i) pthread_join(t[i], NULL);
  show_status("child", wait_child(pid, 5, NULL));
  out("8 threads done: %d sockets, %d errors\n", (int)alloc_sockets, (int)alloc_errors);
  int port;
  int l = make_listener(&port);
  int c = connect_to(port);
  out("listener %d client %d\n", l, c);
  list_fds_below("at the end", 100);
}

// --- exit while other threads are inside hooks -------------------------------

static void exit_while_threads_churn(int argc, char** argv) {
  start_watchdog(10);
  pthread_t t[4];
  for (int i = 0; i < 4; ++i) pthread_create(&t[i], NULL, socket_churner, NULL);
  struct timespec pause = {0, 30 * 1000 * 1000};
  nanosleep(&pause, NULL);
  out("exiting with 7 while 4 threads churn\n");
  exit(7);
}

static void* _exit_thread(void* arg) {
  struct timespec pause = {0, 30 * 1000 * 1000};
  nanosleep(&pause, NULL);
  out("_exit(9) from a thread\n");
  _exit(9);
}

static void thread_exit_while_threads_churn(int argc, char** argv) {
  start_watchdog(10);
  pthread_t t[5];
  for (int i = 0; i < 4; ++i) pthread_create(&t[i], NULL, socket_churner, NULL);
  pthread_create(&t[4], NULL, _exit_thread, NULL);
  for (;;) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    close(s);
  }
}

// main() ends with pthread_exit: the process lives on in its threads.
static pthread_t first_thread;

static void* first_worker(void* arg) {
  struct timespec pause = {0, 20 * 1000 * 1000};
  nanosleep(&pause, NULL);
  int port;
  int l = make_listener(&port);
  int c = connect_to(port);
  out("first thread: listener %d client %d\n", l, c);
  return NULL;
}

static void* second_worker(void* arg) {
  pthread_join(first_thread, NULL);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  out("second thread: socket %d, last one out\n", s);
  return NULL;
}

static void main_thread_pthread_exit(int argc, char** argv) {
  // Not start_watchdog: its thread would keep the process alive. A hang
  // ends with SIGALRM instead.
  alarm(10);
  pthread_t second;
  pthread_create(&first_thread, NULL, first_worker, NULL);
  pthread_create(&second, NULL, second_worker, NULL);
  out("main thread: pthread_exit\n");
  pthread_exit(NULL);
}

// execv from a thread while others churn (close-on-exec) sockets.
static void* cloexec_churner(void* arg) {
  while (!stop_flag) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int d = fcntl(s, F_DUPFD_CLOEXEC, 0);
    close(d);
    close(s);
  }
  return NULL;
}

static const char* self_path;

static void* exec_thread(void* arg) {
  struct timespec pause = {0, 20 * 1000 * 1000};
  nanosleep(&pause, NULL);
  char* args[] = {(char*)self_path, "listing_child", NULL};
  execv(self_path, args);
  out("execv: %s\n", errname(errno));
  return NULL;
}

static void exec_from_thread(int argc, char** argv) {
  start_watchdog(10);
  int kept = socket(AF_INET, SOCK_STREAM, 0);
  out("kept socket %d\n", kept);
  pthread_t t[4];
  for (int i = 0; i < 3; ++i) pthread_create(&t[i], NULL, cloexec_churner, NULL);
  pthread_create(&t[3], NULL, exec_thread, NULL);
  pthread_join(t[3], NULL);
  out("exec thread returned\n");
}

static void listing_child(int argc, char** argv) {
  list_fds_below("new image", 100);
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, "Threads:", 8) == 0) out("new image: %s", line);
  if (f) fclose(f);
}

// --- hooked calls deep in the main thread's stack (under ulimit -s) ---------

static char* main_stack_low(void) {
  FILE* f = fopen("/proc/self/maps", "r");
  char line[512];
  unsigned long end = 0;
  while (f && fgets(line, sizeof(line), f)) {
    if (strstr(line, "[stack]")) {
      unsigned long start;
      sscanf(line, "%lx-%lx", &start, &end);
    }
  }
  if (f) fclose(f);
  struct rlimit r;
  getrlimit(RLIMIT_STACK, &r);
  return (char*)(end - r.rlim_cur);
}

static void main_stack_small(int argc, char** argv) {
  start_watchdog(10);
  struct rlimit r;
  getrlimit(RLIMIT_STACK, &r);
  out("stack limit %ld KiB\n", (long)(r.rlim_cur / 1024));
  if (r.rlim_cur == RLIM_INFINITY || r.rlim_cur > 4096 * 1024) {
    out("run it under ulimit -s 256\n");
    return;
  }
  struct small_stack_run run;
  memset(&run, 0, sizeof(run));
  run.leave = 8 * 1024;
  run.listener = make_listener(&run.port);
  recurse_until(&run, main_stack_low());
  out("calls reached: %d\n", run.reached);
  for (int i = 0; i < 12; ++i) show_result(small_names[i], run.results[i], run.errors[i]);
}

static const struct identity_case cases[] = {
    {"exit_while_threads_churn", exit_while_threads_churn},
    {"thread_exit_while_threads_churn", thread_exit_while_threads_churn},
    {"main_thread_pthread_exit", main_thread_pthread_exit},
    {"exec_from_thread", exec_from_thread},
    {"listing_child", listing_child},
    {"main_stack_small", main_stack_small},
    {"churn64", churn64},
    {"fork_from_threads", fork_from_threads},
    {"fork_in_sigusr1_handler", fork_in_sigusr1_handler},
    {"fork_in_sigalrm_during_blocking_calls", fork_in_sigalrm_during_blocking_calls},
    {"fork_in_timer_handler_during_churn", fork_in_timer_handler_during_churn},
    {"fork_while_unwinding", fork_while_unwinding},
    {"small_stack_16k", small_stack_16k},
    {"small_stack_min", small_stack_min},
    {"hooks_on_sigaltstack", hooks_on_sigaltstack},
    {"socket_in_key_destructor", socket_in_key_destructor},
    {"socket_ops_at_exit", socket_ops_at_exit},
    {"alloc_churn", alloc_churn},
    {NULL, NULL},
};

int main(int argc, char** argv) {
  self_path = argv[0];
  return run_case(cases, argc, argv);
}
