// The process state a program can inspect besides its fds: signal
// dispositions, masks and alternate stacks, /proc/self/status (threads,
// caught signals, fd table size), resource limits, timers, the environment,
// the process group; at start, after socket activity, in a new thread and in
// a forked child. Also stdin passed through, and sockets made in the
// program's own constructor.
#include "identity_common.h"

#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>

extern char** environ;

static void show_signals(const char* label) {
  char line[2048];
  size_t used = snprintf(line, sizeof(line), "%s: signals not default:", label);
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) != 0) continue;  // glibc's own (32, 33)
    if (sa.sa_handler == SIG_DFL && !(sa.sa_flags & SA_SIGINFO)) continue;
    const char* what = sa.sa_handler == SIG_IGN ? "ignored" : "handler";
    used += snprintf(line + used, sizeof(line) - used, " %d=%s", sig, what);
  }
  out("%s\n", line);
  sigset_t mask, pending;
  pthread_sigmask(SIG_BLOCK, NULL, &mask);
  sigpending(&pending);
  used = snprintf(line, sizeof(line), "%s: blocked:", label);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sigismember(&mask, sig) == 1) used += snprintf(line + used, sizeof(line) - used, " %d", sig);
  used += snprintf(line + used, sizeof(line) - used, "; pending:");
  for (int sig = 1; sig < NSIG; ++sig)
    if (sigismember(&pending, sig) == 1) used += snprintf(line + used, sizeof(line) - used, " %d", sig);
  out("%s\n", line);
  stack_t ss;
  sigaltstack(NULL, &ss);
  out("%s: sigaltstack %s\n", label, ss.ss_flags & SS_DISABLE ? "disabled" : "set");
}

// Lines of /proc/self/status that depend only on what the process did.
// (Not FDSize: the kernel sizes a forked child's fd table from its parent's
// highest open fd, so it tells which process forked this one, and under
// `connleak run` that is the launcher. No call the program makes sees it.)
static void show_status_lines(const char* label) {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return;
  char line[512];
  static const char* keys[] = {"Threads:", "SigBlk:", "SigIgn:", "SigCgt:", "NoNewPrivs:", "Seccomp:",
                               NULL};
  while (fgets(line, sizeof(line), f)) {
    for (const char** k = keys; *k; ++k) {
      if (strncmp(line, *k, strlen(*k)) == 0) {
        char* value = line + strlen(*k);
        while (*value == ' ' || *value == '\t') ++value;
        out("%s: %s %s", label, *k, value);
      }
    }
  }
  fclose(f);
}

static void show_limits(const char* label) {
  static const struct {
    int resource;
    const char* name;
  } limits[] = {{RLIMIT_AS, "AS"},         {RLIMIT_CORE, "CORE"},     {RLIMIT_CPU, "CPU"},
                {RLIMIT_DATA, "DATA"},     {RLIMIT_FSIZE, "FSIZE"},   {RLIMIT_MEMLOCK, "MEMLOCK"},
                {RLIMIT_NOFILE, "NOFILE"}, {RLIMIT_NPROC, "NPROC"},   {RLIMIT_RSS, "RSS"},
                {RLIMIT_STACK, "STACK"},   {RLIMIT_SIGPENDING, "SIGPENDING"}, {RLIMIT_MSGQUEUE, "MSGQUEUE"},
                {RLIMIT_NICE, "NICE"},     {RLIMIT_RTPRIO, "RTPRIO"}, {RLIMIT_RTTIME, "RTTIME"}};
  char line[2048];
  size_t used = snprintf(line, sizeof(line), "%s: limits:", label);
  for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); ++i) {
    struct rlimit r;
    getrlimit(limits[i].resource, &r);
    used += snprintf(line + used, sizeof(line) - used, " %s=%lld/%lld", limits[i].name,
                     r.rlim_cur == RLIM_INFINITY ? -1LL : (long long)r.rlim_cur,
                     r.rlim_max == RLIM_INFINITY ? -1LL : (long long)r.rlim_max);
  }
  out("%s\n", line);
}

static void show_misc(const char* label) {
  mode_t mask = umask(022);
  umask(mask);
  struct itimerval real, virt, prof;
  getitimer(ITIMER_REAL, &real);
  getitimer(ITIMER_VIRTUAL, &virt);
  getitimer(ITIMER_PROF, &prof);
  int timers = -1;
  FILE* f = fopen("/proc/self/timers", "r");
  if (f) {
    char line[256];
    timers = 0;
    while (fgets(line, sizeof(line), f)) timers += strncmp(line, "ID:", 3) == 0;
    fclose(f);
  }
  int env = 0;
  for (char** e = environ; *e; ++e)
    if (strncmp(*e, "LD_PRELOAD=", 11) != 0 && strncmp(*e, "CONNLEAK_", 9) != 0) ++env;
  char name[17] = {0};
  prctl(PR_GET_NAME, name);
  int subreaper = -1;
  prctl(PR_GET_CHILD_SUBREAPER, &subreaper);
  out("%s: umask %03o, itimers %s, posix timers %d, environment %d (without LD_PRELOAD, CONNLEAK_*)\n", label,
      (unsigned)mask,
      (real.it_value.tv_sec | real.it_value.tv_usec | virt.it_value.tv_sec | virt.it_value.tv_usec |
       prof.it_value.tv_sec | prof.it_value.tv_usec)
          ? "armed"
          : "off",
      timers, env);
  out("%s: thread name \"%s\", dumpable %d, no_new_privs %d, subreaper %d, personality 0x%x, nice %d\n", label, name,
      prctl(PR_GET_DUMPABLE), prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), subreaper, personality(0xffffffff),
      getpriority(PRIO_PROCESS, 0));
  out("%s: process group leader %d, session leader %d\n", label, getpgrp() == getpid(), getsid(0) == getpid());
}

static void show_state(const char* label) {
  show_signals(label);
  show_status_lines(label);
  show_limits(label);
  show_misc(label);
}

static void state_at_start(int argc, char** argv) { show_state("at start"); }

static void* thread_state(void* arg) {
  show_signals("in a thread");
  int s = socket(AF_INET, SOCK_STREAM, 0);
  close(s);
  return NULL;
}

static void state_after_activity(int argc, char** argv) {
  int port;
  int l = make_listener(&port);
  for (int i = 0; i < 50; ++i) {
    int c = connect_to(port);
    int a = accept(l, NULL, NULL);
    write(c, "x", 1);
    char byte;
    read(a, &byte, 1);
    close(a);
    close(c);
  }
  int leaked = connect_to(port);
  out("leaked %d\n", leaked);
  pthread_t t;
  pthread_create(&t, NULL, thread_state, NULL);
  pthread_join(t, NULL);
  pid_t pid = fork();
  if (pid == 0) {
    show_state("in a forked child");
    _exit(0);
  }
  show_status("child", wait_child(pid, 5, NULL));
  show_state("after activity");
}

static void stdin_copy(int argc, char** argv) {
  static const char* kinds[] = {"stdin", "stdout", "stderr"};
  for (int fd = 0; fd < 3; ++fd) {
    struct stat st;
    fstat(fd, &st);
    out("%s: %s, tty %d\n", kinds[fd],
        S_ISFIFO(st.st_mode) ? "pipe" : S_ISREG(st.st_mode) ? "file" : S_ISCHR(st.st_mode) ? "char device"
                                                          : S_ISSOCK(st.st_mode) ? "socket" : "other",
        isatty(fd));
  }
  unsigned long sum = 0, bytes = 0;
  char buf[4096];
  for (;;) {
    ssize_t n = read(0, buf, sizeof(buf));
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) sum = sum * 31 + (unsigned char)buf[i];
    bytes += n;
  }
  out("stdin: %lu bytes, checksum %lu\n", bytes, sum);
  fprintf(stderr, "a line on stderr\n");
}

// Sockets made before main, in the program's own constructor.
static int constructor_fds[3] = {-1, -1, -1};

__attribute__((constructor)) static void early(int argc, char** argv, char** envp) {
  if (argc < 2 || strcmp(argv[1], "constructor_sockets") != 0) return;
  constructor_fds[0] = socket(AF_INET, SOCK_STREAM, 0);
  constructor_fds[1] = socket(AF_UNIX, SOCK_DGRAM, 0);
  constructor_fds[2] = dup(constructor_fds[0]);
  close(constructor_fds[0]);
}

static void constructor_sockets(int argc, char** argv) {
  out("in the constructor: sockets %d %d, dup %d\n", constructor_fds[0], constructor_fds[1], constructor_fds[2]);
  out("in main: socket %d\n", socket(AF_INET, SOCK_STREAM, 0));
  list_fds_below("in main", 100);
}

static const struct identity_case cases[] = {
    {"state_at_start", state_at_start},
    {"state_after_activity", state_after_activity},
    {"stdin_copy", stdin_copy},
    {"constructor_sockets", constructor_sockets},
    {NULL, NULL},
};

int main(int argc, char** argv) { return run_case(cases, argc, argv); }
