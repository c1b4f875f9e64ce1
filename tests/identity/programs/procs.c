// New process images: exec chains, every exec variant, posix_spawn with an
// empty environment and with file actions, vfork, close-on-exec, a daemon
// that closes every fd, popen and system. Children print what they see
// (argv, their fds, their environment) and parents print how they ended.
#include "identity_common.h"

#include <libgen.h>

extern char** environ;

static const char* self;

// The environment as the program sees it, without what the shim adds to
// follow children (LD_PRELOAD, CONNLEAK_*): a traced child has them by
// design, as any LD_PRELOAD tool's child does.
static void show_environment(const char* label) {
  int n = 0;
  char line[4096];
  size_t used = snprintf(line, sizeof(line), "%s: environment:", label);
  for (char** e = environ; *e; ++e) {
    if (strncmp(*e, "LD_PRELOAD=", 11) == 0 || strncmp(*e, "CONNLEAK_", 9) == 0) continue;
    ++n;
    if ((strncmp(*e, "FOO=", 4) == 0 || strncmp(*e, "STEP=", 5) == 0) && used < sizeof(line) - 128)
      used += snprintf(line + used, sizeof(line) - used, " %s", *e);
  }
  out("%s (%d entries)\n", line, n);
}

// Mode of a child image: what it was given.
static void child_listing(int argc, char** argv) {
  const char* label = argc > 2 ? argv[2] : "child";
  out("%s: argc %d\n", label, argc);
  list_fds_below(label, 100);
  show_environment(label);
}

static void exec_chain(int argc, char** argv) {
  int step = argc > 2 ? atoi(argv[2]) : 5;
  char label[32];
  snprintf(label, sizeof(label), "step %d", step);
  list_fds(label);
  if (step == 0) return;
  int kept = socket(AF_INET, SOCK_STREAM, 0);
  int dropped = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  out("step %d: kept %d, close-on-exec %d\n", step, kept, dropped);
  char next[16];
  snprintf(next, sizeof(next), "%d", step - 1);
  char* args[] = {(char*)self, "exec_chain", next, NULL};
  execv(self, args);
  out("execv: %s\n", errname(errno));
}

static void wait_and_show(const char* label, pid_t pid) { show_status(label, wait_child(pid, 5, NULL)); }

// posix_spawn's result (an error number), printed once the child ended, so
// that the child's lines come first whatever the scheduling.
static void spawned(const char* label, int result, const pid_t* pid) {
  if (result == 0) wait_and_show(label, *pid);
  out("%s: spawn returned %d %s\n", label, result, result ? errname(result) : "");
}

static void posix_spawn_sh_empty_env(int argc, char** argv) {
  char* empty[] = {NULL};
  char* args[] = {"sh", "-c", "echo hi; echo \"$0 $1 $#\"; env | grep -v -e '^LD_PRELOAD=' -e '^CONNLEAK_' | sort",
                  "zero", "one", NULL};
  pid_t pid;
  spawned("sh", posix_spawn(&pid, "/bin/sh", NULL, NULL, args, empty), &pid);
  spawned("sh via PATH", posix_spawnp(&pid, "sh", NULL, NULL, args, empty), &pid);
}

static void posix_spawn_self_empty_env(int argc, char** argv) {
  int a = socket(AF_INET, SOCK_STREAM, 0);
  int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  out("parent: inherited %d, close-on-exec %d\n", a, b);
  char* empty[] = {NULL};
  char* args[] = {(char*)self, "child_listing", "spawned with envp {NULL}", NULL};
  pid_t pid;
  spawned("spawned", posix_spawn(&pid, self, NULL, NULL, args, empty), &pid);
  char* one[] = {"FOO=bar", NULL};
  char* args2[] = {(char*)self, "child_listing", "spawned with envp {FOO=bar}", NULL};
  spawned("spawned", posix_spawn(&pid, self, NULL, NULL, args2, one), &pid);
}

static void posix_spawn_file_actions(int argc, char** argv) {
  int a = socket(AF_INET, SOCK_STREAM, 0);
  int b = socket(AF_INET, SOCK_STREAM, 0);
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int d = socket(AF_UNIX, SOCK_STREAM, 0);
  int e = socket(AF_INET, SOCK_DGRAM, 0);
  int far = fcntl(e, F_DUPFD, 40);
  out("parent: a %d b %d c %d d %d e %d far %d\n", a, b, c, d, e, far);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addclose(&fa, a);
  posix_spawn_file_actions_adddup2(&fa, b, 10);
  posix_spawn_file_actions_adddup2(&fa, c, 11);
  posix_spawn_file_actions_addopen(&fa, 20, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addclose(&fa, d);
  posix_spawn_file_actions_addclosefrom_np(&fa, 30);
  char* args[] = {(char*)self, "child_listing", "with file actions", NULL};
  pid_t pid;
  spawned("spawned", posix_spawn(&pid, self, &fa, NULL, args, environ), &pid);
  posix_spawn_file_actions_destroy(&fa);
  // A file action that fails: the child never runs, spawn reports it.
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, 60, 12);
  spawned("bad file action", posix_spawn(&pid, self, &fa, NULL, args, environ), &pid);
  posix_spawn_file_actions_destroy(&fa);
  SHOW(waitpid(-1, NULL, WNOHANG));
  list_fds_below("parent", 100);
}

static void posix_spawn_failures(int argc, char** argv) {
  char* args[] = {"x", NULL};
  pid_t pid = 12345;
  SHOW(posix_spawn(&pid, "/nonexistent/program", NULL, NULL, args, environ));
  SHOW(posix_spawnp(&pid, "no-such-program-connleak", NULL, NULL, args, environ));
  SHOW(posix_spawn(&pid, "/dev/null", NULL, NULL, args, environ));
  SHOW(posix_spawn(&pid, "/", NULL, NULL, args, environ));
  SHOW(waitpid(-1, NULL, WNOHANG));
  int s = socket(AF_INET, SOCK_STREAM, 0);
  out("next socket fd = %d\n", s);
}

static void vfork_exec(int argc, char** argv) {
  int a = socket(AF_INET, SOCK_STREAM, 0);
  int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  out("parent: %d %d\n", a, b);
  char* args[] = {(char*)self, "child_listing", "vfork child", NULL};
  pid_t pid = vfork();
  if (pid == 0) {
    execv(self, args);
    _exit(127);
  }
  wait_and_show("vfork+exec", pid);
  pid = vfork();
  if (pid == 0) _exit(5);
  wait_and_show("vfork+_exit", pid);
  pid = vfork();
  if (pid == 0) {
    execv("/nonexistent/program", args);
    _exit(errno);
  }
  wait_and_show("vfork+failed exec", pid);
  out("next socket fd = %d\n", socket(AF_INET, SOCK_STREAM, 0));
}

static void cloexec_exec_listing(int argc, char** argv) {
  int port;
  int l = make_listener(&port);
  int plain = socket(AF_INET, SOCK_STREAM, 0);
  int flagged = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int later = socket(AF_INET, SOCK_STREAM, 0);
  fcntl(later, F_SETFD, FD_CLOEXEC);
  int c = connect_to(port);
  int accepted = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  int d3 = dup3(plain, 15, O_CLOEXEC);
  int dfd = fcntl(plain, F_DUPFD_CLOEXEC, 20);
  int d2 = dup2(flagged, 21);  // dup2 clears close-on-exec
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
  int p[2];
  pipe2(p, O_CLOEXEC);
  int cleared = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  fcntl(cleared, F_SETFD, 0);
  out("listener %d plain %d flagged %d later %d client %d accepted %d dup3 %d dupfd %d dup2 %d pair %d %d pipe %d %d "
      "cleared %d\n",
      l, plain, flagged, later, c, accepted, d3, dfd, d2, sv[0], sv[1], p[0], p[1], cleared);
  list_fds_below("before exec", 100);
  char* args[] = {(char*)self, "child_listing", "after exec", NULL};
  execv(self, args);
  out("execv: %s\n", errname(errno));
}

static void exec_variant(const char* via, int variant) {
  char* base = basename(strdup(self));
  char* args[] = {(char*)self, "child_listing", (char*)via, NULL};
  char* base_args[] = {base, "child_listing", (char*)via, NULL};
  char* env[] = {"FOO=bar", NULL};
  pid_t pid = fork();
  if (pid == 0) {
    switch (variant) {
      case 0: execl(self, self, "child_listing", via, (char*)NULL); break;
      case 1: execlp(base, base, "child_listing", via, (char*)NULL); break;
      case 2: execle(self, self, "child_listing", via, (char*)NULL, env); break;
      case 3: execv(self, args); break;
      case 4: execvp(base, base_args); break;
      case 5: execvpe(base, base_args, env); break;
      case 6: execve(self, args, env); break;
      case 7: {
        int fd = open(self, O_RDONLY);
        out("%s: fd %d\n", via, fd);
        fexecve(fd, args, env);
        break;
      }
      default: execvp("no-such-program-connleak", base_args); break;
    }
    out("%s: %s\n", via, errname(errno));
    _exit(0);
  }
  wait_and_show(via, pid);
}

static void exec_family(int argc, char** argv) {
  // PATH search finds the program by its base name.
  char* dir = dirname(strdup(self));
  char path[4096];
  snprintf(path, sizeof(path), "%s:/usr/bin:/bin", dir);
  setenv("PATH", path, 1);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  out("parent socket %d\n", s);
  const char* names[] = {"execl", "execlp", "execle", "execv", "execvp", "execvpe", "execve", "fexecve", "execvp(missing)"};
  for (int i = 0; i < 9; ++i) exec_variant(names[i], i);
}

// A daemon: fork, setsid, fork, close every fd but its report pipe, reopen
// 0-2 on /dev/null, open sockets; it reports through the pipe.
static void daemonize_close_all(int argc, char** argv) {
  int p[2];
  pipe(p);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  out("parent socket %d\n", s);
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    if (fork() != 0) _exit(0);
    int report = dup2(p[1], 200);
    close_range(0, 199, 0);
    close_range(201, ~0U, 0);
    int n0 = open("/dev/null", O_RDONLY);
    int n1 = open("/dev/null", O_WRONLY);
    int n2 = open("/dev/null", O_WRONLY);
    dup2(report, 1);  // out() reports through the pipe
    int a = socket(AF_INET, SOCK_STREAM, 0);
    int b = socket(AF_UNIX, SOCK_DGRAM, 0);
    out("daemon: /dev/null %d %d %d, stdout now the pipe, sockets %d %d\n", n0, n1, n2, a, b);
    list_fds("daemon");
    close(a);
    close(b);
    close(report);
    _exit(0);
  }
  close(p[1]);
  wait_and_show("first child", pid);
  char buf[8192];
  size_t got = 0;
  double deadline = now_seconds() + 5;
  while (got < sizeof(buf) - 1 && now_seconds() < deadline) {
    struct pollfd pf = {p[0], POLLIN, 0};
    if (poll(&pf, 1, 100) != 1) continue;
    ssize_t n = read(p[0], buf + got, sizeof(buf) - 1 - got);
    if (n <= 0) break;
    got += n;
  }
  buf[got] = '\0';
  out("%s", buf);
  out("report pipe %s\n", now_seconds() < deadline ? "closed" : "still open after 5 s");
}

static void popen_system(int argc, char** argv) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  out("socket %d\n", s);
  FILE* f = popen("echo from popen; exit 3", "r");
  char line[256];
  while (fgets(line, sizeof(line), f)) out("popen read: %s", line);
  int status = pclose(f);
  show_status("pclose", status);
  status = system("echo from system; exit 4");
  show_status("system", status);
  list_fds_below("after", 100);
}

// Linux takes a NULL envp as an empty environment and a NULL argv as an
// empty one (the new image gets argc 1, argv[0] ""); the shim must not turn
// NULL into the caller's environment.
static void exec_null_argv_envp(int argc, char** argv) {
  char* args[] = {(char*)self, "child_listing", "execve(envp=NULL)", NULL};
  pid_t pid = fork();
  if (pid == 0) {
    execve(self, args, NULL);
    out("execve: %s\n", errname(errno));
    _exit(0);
  }
  wait_and_show("execve(envp=NULL)", pid);
  pid = fork();
  if (pid == 0) {
    execve(self, NULL, environ);
    out("execve: %s\n", errname(errno));
    _exit(0);
  }
  wait_and_show("execve(argv=NULL)", pid);
  pid = fork();
  if (pid == 0) {
    execle(self, self, "child_listing", "execle(envp=NULL)", (char*)NULL, (char**)NULL);
    out("execle: %s\n", errname(errno));
    _exit(0);
  }
  wait_and_show("execle(envp=NULL)", pid);
  char* args2[] = {(char*)self, "child_listing", "posix_spawn(envp=NULL)", NULL};
  spawned("posix_spawn(envp=NULL)", posix_spawn(&pid, self, NULL, NULL, args2, NULL), &pid);
}

static const struct identity_case cases[] = {
    {"exec_null_argv_envp", exec_null_argv_envp},
    {"child_listing", child_listing},
    {"exec_chain", exec_chain},
    {"posix_spawn_sh_empty_env", posix_spawn_sh_empty_env},
    {"posix_spawn_self_empty_env", posix_spawn_self_empty_env},
    {"posix_spawn_file_actions", posix_spawn_file_actions},
    {"posix_spawn_failures", posix_spawn_failures},
    {"vfork_exec", vfork_exec},
    {"cloexec_exec_listing", cloexec_exec_listing},
    {"exec_family", exec_family},
    {"daemonize_close_all", daemonize_close_all},
    {"popen_system", popen_system},
    {NULL, NULL},
};

int main(int argc, char** argv) {
  self = argv[0];
  return run_case(cases, argc, argv);
}
