// The shim loads its unwinder when the process first needs it, not at
// start-up. These cases make that first moment a hostile one: the first
// stack taken in a signal handler (installed in each way libc offers), in a
// new thread (POSIX and C11), and between a failed dlopen() and the
// program's dlerror(), which the shim's own dl calls must not clear. Each
// leaks the socket it made, so the test can check the stack it got. No
// watchdog thread: a thread would load the unwinder first (alarm() instead).
//
// With FIRST_STACK_MAPS=FILE in the environment (a traced run outside the
// identity comparison), each case also appends to FILE whether libunwind is
// mapped at its key moments: not at start, and already before the first
// handler or thread can run.
#include "identity_common.h"

#include <dlfcn.h>
#include <threads.h>

// Declared only for X/Open before 2008.
extern __sighandler_t bsd_signal(int sig, __sighandler_t handler);

static volatile int handler_fd = -1;

static void note_unwinder(const char* when) {
  const char* path = getenv("FIRST_STACK_MAPS");
  if (!path) return;
  static char maps[1 << 20];
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  size_t used = 0;
  for (ssize_t n; fd >= 0 && used < sizeof(maps) - 1 && (n = read(fd, maps + used, sizeof(maps) - 1 - used)) > 0;)
    used += (size_t)n;
  maps[used] = 0;
  close(fd);
  FILE* f = fopen(path, "a");
  fprintf(f, "%s: %s\n", when, strstr(maps, "libunwind") ? "loaded" : "not loaded");
  fclose(f);
}

static void socket_in_handler(int sig) { handler_fd = socket(AF_INET, SOCK_STREAM, 0); }

static void socket_in_siginfo_handler(int sig, siginfo_t* info, void* context) {
  handler_fd = socket(AF_INET, SOCK_STREAM, 0);
}

static void show_old(const char* what, __sighandler_t old) {
  out("%s: old disposition %s\n", what, old == SIG_DFL ? "default" : old == SIG_IGN ? "ignored"
                                         : old == SIG_ERR ? "error" : "a handler");
}

// argv[2]: how the handler is installed.
static void first_socket_in_handler(int argc, char** argv) {
  alarm(10);
  note_unwinder("at start");
  const char* how = argc > 2 ? argv[2] : "sigaction";
  if (strcmp(how, "sigaction") == 0) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = socket_in_siginfo_handler;
    sa.sa_flags = SA_SIGINFO;
    SHOW(sigaction(SIGUSR1, &sa, &old));
    show_old(how, old.sa_handler);
  } else if (strcmp(how, "signal") == 0) {
    show_old(how, signal(SIGUSR1, socket_in_handler));
  } else if (strcmp(how, "bsd_signal") == 0) {
    show_old(how, bsd_signal(SIGUSR1, socket_in_handler));
  } else if (strcmp(how, "sysv_signal") == 0) {
    show_old(how, sysv_signal(SIGUSR1, socket_in_handler));
  } else if (strcmp(how, "ssignal") == 0) {
    show_old(how, ssignal(SIGUSR1, socket_in_handler));
  } else if (strcmp(how, "sigset") == 0) {
    show_old(how, sigset(SIGUSR1, socket_in_handler));
  } else {
    out("no installer %s\n", how);
    return;
  }
  note_unwinder("handler installed");
  raise(SIGUSR1);
  out("socket made in the handler: fd %d\n", handler_fd);
}

// Installing dispositions the kernel or libc refuse, and reading them back.
static void handler_installers_refused(int argc, char** argv) {
  alarm(10);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = socket_in_handler;
  SHOW(sigaction(-1, &sa, NULL));
  SHOW(sigaction(SIGKILL, &sa, NULL));
  SHOW(sigaction(SIGUSR2, NULL, NULL));
  errno = 0;
  show_old("signal(SIGKILL)", signal(SIGKILL, socket_in_handler));
  out("errno %s\n", errname(errno));
  errno = 0;
  show_old("sigset(1000)", sigset(1000, socket_in_handler));
  out("errno %s\n", errname(errno));
  // An action libc reads before the kernel sees it: natively a SIGSEGV.
  pid_t pid = fork();
  if (pid == 0) {
    sigaction(SIGUSR2, BAD_PTR, NULL);
    _exit(0);
  }
  show_status("sigaction with an unreadable action", wait_child(pid, 5, NULL));
}

static void* socket_in_pthread(void* arg) {
  note_unwinder("in the thread");
  *(int*)arg = socket(AF_INET, SOCK_STREAM, 0);
  return NULL;
}

static int socket_in_c11_thread(void* arg) {
  note_unwinder("in the thread");
  *(int*)arg = socket(AF_INET, SOCK_STREAM, 0);
  return 0;
}

static void first_socket_in_thread(int argc, char** argv) {
  alarm(10);
  note_unwinder("at start");
  int fd = -1;
  if (argc > 2 && strcmp(argv[2], "c11") == 0) {
    thrd_t thread;
    out("thrd_create %d\n", thrd_create(&thread, socket_in_c11_thread, &fd) == thrd_success);
    thrd_join(thread, NULL);
  } else {
    pthread_t thread;
    SHOW(pthread_create(&thread, NULL, socket_in_pthread, &fd));
    pthread_join(thread, NULL);
  }
  out("socket made in the thread: fd %d\n", fd);
}

static void show_dlerror(const char* when) {
  const char* message = dlerror();
  out("%s: dlerror %s\n", when, message ? message : "(none)");
}

// The shim's first calls of several wrappers, and its first stack, fall
// between a failed dl call and the dlerror() that reads it.
static void dlerror_across_first_calls(int argc, char** argv) {
  alarm(10);
  note_unwinder("at start");
  out("dlopen %s\n", dlopen("libconnleak-no-such-library.so", RTLD_NOW) ? "worked" : "failed");
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int port;
  int l = make_listener(&port);
  int c = connect_to(port);
  int a = accept(l, NULL, NULL);
  out("sockets %d %d %d %d\n", s, l, c, a);
  show_dlerror("after the first sockets");
  show_dlerror("read twice");
  note_unwinder("after the first sockets");
  // No message of the shim's own is left where the program expects none.
  SHOW(shutdown(-1, SHUT_RDWR));
  SHOW(getsockopt(-1, SOL_SOCKET, SO_TYPE, NULL, NULL));
  show_dlerror("after first calls that failed");
  // A dl call of the program's after the shim's replaces the kept message.
  out("dlsym %s\n", dlsym(RTLD_DEFAULT, "no_such_symbol_of_anyone") ? "found" : "not found");
  SHOW(sendmsg(-1, NULL, 0));
  show_dlerror("after a failed dlsym and a first call");
  out("dlopen %s\n", dlopen("libconnleak-no-such-library.so", RTLD_NOW) ? "worked" : "failed");
  SHOW(recvmmsg(-1, NULL, 0, 0, NULL));
  out("dlopen(NULL) %s\n", dlopen(NULL, RTLD_NOW) ? "worked" : "failed");
  show_dlerror("after a failure, a first call and a dlopen that worked");
  close(a);
  close(c);
  close(l);
}

static const struct identity_case cases[] = {
    {"first_socket_in_handler", first_socket_in_handler},
    {"handler_installers_refused", handler_installers_refused},
    {"first_socket_in_thread", first_socket_in_thread},
    {"dlerror_across_first_calls", dlerror_across_first_calls},
    {NULL, NULL},
};

int main(int argc, char** argv) { return run_case(cases, argc, argv); }
