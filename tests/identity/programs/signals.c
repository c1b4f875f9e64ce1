// Programs with signal handling of their own: a SIGSEGV handler that
// recovers with siglongjmp (as runtimes with managed memory do), SIGPIPE
// default and ignored, death by a signal, and a socket loop for the test to
// kill with SIGKILL at a random moment.
#include "identity_common.h"

#include <setjmp.h>

static sigjmp_buf recover;
static volatile sig_atomic_t segv_count;

static void segv_handler(int sig, siginfo_t* info, void* context) {
  ++segv_count;
  siglongjmp(recover, 1);
}

static void install_segv_handler(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = segv_handler;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
}

static void socket_round(int l, int port) {
  int c = connect_to(port);
  int a = accept(l, NULL, NULL);
  long w = write(c, "ping", 4);
  char buf[4];
  long r = read(a, buf, 4);
  out("socket round: client %d accepted %d write %ld read %ld close %d %d\n", c, a, w, r, close(a), close(c));
}

static void sigsegv_handler_recovers(int argc, char** argv) {
  start_watchdog(10);
  install_segv_handler();
  int port;
  int l = make_listener(&port);
  int* volatile null_pointer = NULL;
  for (int i = 0; i < 3; ++i) {
    if (sigsetjmp(recover, 1) == 0) {
      *null_pointer = i;  // SIGSEGV, caught
      out("no SIGSEGV?\n");
    } else {
      out("recovered from SIGSEGV %d\n", (int)segv_count);
    }
    socket_round(l, port);
  }
  // A fault inside a signal-safe sequence of hooked calls.
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (sigsetjmp(recover, 1) == 0) {
    int d = dup(s);
    close(d);
    *null_pointer = 1;
  }
  out("after the fault: close(s) = %d, next socket %d, SIGSEGVs %d\n", close(s), socket(AF_INET, SOCK_STREAM, 0),
      (int)segv_count);
}

// Natively these calls fail with EFAULT and raise no signal; any SIGSEGV the
// program's handler sees came from somewhere else.
#define GUARDED(call)                                            \
  do {                                                           \
    int before = segv_count;                                     \
    if (sigsetjmp(recover, 1) == 0) {                            \
      errno = 0;                                                 \
      long r_ = (long)(call);                                    \
      show_result(#call, r_, errno);                             \
    } else {                                                     \
      out("%s: SIGSEGV in the program's handler\n", #call);       \
    }                                                            \
    if (segv_count != before) out("  (SIGSEGVs so far: %d)\n", (int)segv_count); \
  } while (0)

static void sigsegv_handler_bad_pointer_calls(int argc, char** argv) {
  start_watchdog(10);
  install_segv_handler();
  int port;
  int l = make_listener(&port);
  fcntl(l, F_SETFL, O_NONBLOCK);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  GUARDED(connect(s, BAD_PTR, 16));
  GUARDED(bind(s, BAD_PTR, 16));
  int c = connect_to(port);
  struct pollfd p = {l, POLLIN, 0};
  poll(&p, 1, 5000);
  struct sockaddr_in a;
  GUARDED(accept(l, (struct sockaddr*)&a, (socklen_t*)BAD_PTR));
  int c2 = connect_to(port);
  poll(&p, 1, 5000);
  GUARDED(accept4(l, BAD_PTR, (socklen_t*)BAD_PTR, 0));
  close(c2);
  GUARDED(socketpair(AF_UNIX, SOCK_STREAM, 0, (int*)BAD_PTR));
  GUARDED(sendmsg(c, BAD_PTR, 0));
  GUARDED(recvmsg(c, BAD_PTR, MSG_DONTWAIT));
  GUARDED(write(c, BAD_PTR, 4));
  GUARDED(pipe2((int*)BAD_PTR, 0));
  GUARDED(waitpid(-1, (int*)BAD_PTR, WNOHANG));
  GUARDED(close_range(5, 3, 0));
  // The hooks still work after all that.
  socket_round(l, port);
  out("SIGSEGVs: %d\n", (int)segv_count);
}

static void write_to_closed_peer(int flags_nosignal) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  close(sv[1]);
  if (flags_nosignal)
    SHOW(send(sv[0], "x", 1, MSG_NOSIGNAL));
  SHOW(write(sv[0], "x", 1));
  SHOW(send(sv[0], "x", 1, 0));
}

static void sigpipe_default(int argc, char** argv) {
  out("writing to a socket whose peer is gone\n");
  write_to_closed_peer(1);
  out("not reached\n");
}

static void sigpipe_ignored(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  write_to_closed_peer(1);
  int port;
  int l = make_listener(&port);
  int c = connect_to(port);
  int a = accept(l, NULL, NULL);
  close(a);
  struct pollfd p = {c, POLLIN, 0};
  poll(&p, 1, 5000);
  // The peer's FIN is in; the first write draws an RST, later ones EPIPE.
  SHOW(write(c, "x", 1));
  struct pollfd reset = {c, 0, 0};  // POLLERR/POLLHUP once the RST is in
  double deadline = now_seconds() + 5;
  while (now_seconds() < deadline && !(reset.revents & (POLLERR | POLLHUP))) poll(&reset, 1, 100);
  char byte;
  SHOW(recv(c, &byte, 1, MSG_DONTWAIT));
  SHOW(write(c, "x", 1));
}

static void sigterm_self(int argc, char** argv) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  out("socket %d, raising SIGTERM\n", s);
  raise(SIGTERM);
  out("not reached\n");
}

static void abort_self(int argc, char** argv) {
  int port;
  int l = make_listener(&port);
  int c = connect_to(port);
  out("listener %d client %d, aborting\n", l, c);
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  abort();
}

// Loops socket/connect/close (two threads) until killed; its pid goes to
// argv[2] once the loop runs.
static int killme_port;

static void* killme_loop(void* arg) {
  for (;;) {
    int c = connect_to(killme_port);
    if (c >= 0) {
      write(c, "x", 1);
      close(c);
    }
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    close(u);
  }
  return NULL;
}

static void* killme_acceptor(void* arg) {
  int l = *(int*)arg;
  for (;;) {
    int a = accept(l, NULL, NULL);
    if (a >= 0) close(a);
  }
  return NULL;
}

static void killme(int argc, char** argv) {
  int l = make_listener(&killme_port);
  pthread_t t[3];
  pthread_create(&t[0], NULL, killme_acceptor, &l);
  pthread_create(&t[1], NULL, killme_loop, NULL);
  if (argc > 2) {
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
    FILE* f = fopen(tmp, "w");
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    rename(tmp, argv[2]);
  }
  // Bounded: a test that forgot to kill it still ends.
  struct timespec t20 = {20, 0};
  nanosleep(&t20, NULL);
  out("not killed\n");
  _exit(3);
}

// A small RLIMIT_FSIZE: the program's own file writes past it draw SIGXFSZ,
// nothing else may.
static volatile sig_atomic_t xfsz_count;

static void xfsz_handler(int sig) { ++xfsz_count; }

static void small_rlimit_fsize(int argc, char** argv) {
  signal(SIGXFSZ, xfsz_handler);
  struct rlimit r = {8192, 8192};
  getrlimit(RLIMIT_FSIZE, &r);
  r.rlim_cur = 8192;
  SHOW(setrlimit(RLIMIT_FSIZE, &r));
  int port;
  int l = make_listener(&port);
  long errors = 0;
  for (int i = 0; i < 3000; ++i) {
    int c = connect_to(port);
    int a = accept(l, NULL, NULL);
    if (c < 0 || a < 0 || write(c, "x", 1) != 1) ++errors;
    close(a);
    close(c);
  }
  out("3000 connections, %ld errors, SIGXFSZ %d\n", errors, (int)xfsz_count);
  FILE* f = tmpfile();
  int fd = fileno(f);
  static char block[6000];
  SHOW(write(fd, block, sizeof(block)));
  SHOW(write(fd, block, sizeof(block)));
  SHOW(write(fd, block, sizeof(block)));
  out("SIGXFSZ %d\n", (int)xfsz_count);
  fclose(f);
}

static const struct identity_case cases[] = {
    {"small_rlimit_fsize", small_rlimit_fsize},
    {"sigsegv_handler_recovers", sigsegv_handler_recovers},
    {"sigsegv_handler_bad_pointer_calls", sigsegv_handler_bad_pointer_calls},
    {"sigpipe_default", sigpipe_default},
    {"sigpipe_ignored", sigpipe_ignored},
    {"sigterm_self", sigterm_self},
    {"abort_self", abort_self},
    {"killme", killme},
    {NULL, NULL},
};

int main(int argc, char** argv) { return run_case(cases, argc, argv); }
