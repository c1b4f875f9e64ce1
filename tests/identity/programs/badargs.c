// Rejected arguments (bad fds, flags, ranges, commands) and errno kept
// across successful calls. Each answer is printed with the next fd number
// the program gets, and where it matters whether fds stayed open.
#include "identity_common.h"

#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static void next_fd(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  out("next socket fd = %d\n", s);
  close(s);
}

// Which of fds [from, to] are open, and their FD_CLOEXEC flag.
static void show_open(int from, int to) {
  char line[1024];
  size_t used = snprintf(line, sizeof(line), "open %d..%d:", from, to);
  for (int fd = from; fd <= to; ++fd) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) used += snprintf(line + used, sizeof(line) - used, " %d%s", fd, flags & FD_CLOEXEC ? "(cloexec)" : "");
  }
  out("%s\n", line);
}

static void close_invalid_fds(int argc, char** argv) {
  SHOW(close(-1));
  SHOW(close(-100));
  SHOW(close(100000));
  SHOW(close(INT_MAX));
  SHOW(close(INT_MIN));
  int s = socket(AF_INET, SOCK_STREAM, 0);
  SHOW(close(s));
  SHOW(close(s));
  int p[2];
  pipe(p);
  SHOW(close(p[0]));
  SHOW(close(p[0]));
  SHOW(close(p[1]));
  next_fd();
}

static void dup2_negative_fds(int argc, char** argv) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  SHOW(dup2(-1, 5));
  SHOW(dup2(s, -1));
  SHOW(dup2(-1, -1));
  SHOW(dup2(INT_MIN, s));
  SHOW(dup2(100000, 5));
  SHOW(dup2(s, 100000000));
  SHOW(dup2(s, s));
  SHOW(dup2(40, 40));
  SHOW(dup(-1));
  SHOW(dup(100000));
  SHOW(dup(s));
  SHOW(dup3(-1, 5, 0));
  SHOW(dup3(s, -1, 0));
  show_open(0, 10);
  next_fd();
}

static void socket_bad_arguments(int argc, char** argv) {
  SHOW(socket(AF_INET, 0x7fff, 0));
  SHOW(socket(AF_INET, SOCK_STREAM | 0x40000000, 0));
  SHOW(socket(12345, SOCK_STREAM, 0));
  SHOW(socket(-1, SOCK_STREAM, 0));
  SHOW(socket(AF_INET, SOCK_STREAM, 9999));
  SHOW(socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP));
  SHOW(socket(AF_UNIX, SOCK_STREAM, 1));
  SHOW(socket(AF_INET, -1, 0));
  SHOW(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  show_open(0, 10);
  next_fd();
}

static void accept4_bad_flags(int argc, char** argv) {
  int port;
  int l = make_listener(&port);
  int c = connect_to(port);
  struct pollfd p = {l, POLLIN, 0};
  poll(&p, 1, 5000);
  SHOW(accept4(l, NULL, NULL, 0x7fff));
  SHOW(accept4(l, NULL, NULL, ~(SOCK_CLOEXEC | SOCK_NONBLOCK)));
  SHOW(accept4(l, NULL, NULL, -1));
  SHOW(accept4(l, NULL, NULL, O_APPEND));
  int a;
  SHOW_AS(a, accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK));
  out("cloexec %d nonblock %d\n", !!(fcntl(a, F_GETFD) & FD_CLOEXEC), !!(fcntl(a, F_GETFL) & O_NONBLOCK));
  SHOW(accept4(-1, NULL, NULL, 0));
  SHOW(accept4(c, NULL, NULL, 0));
  next_fd();
}

static void dup3_rejected(int argc, char** argv) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  SHOW(dup3(s, s, 0));
  SHOW(dup3(s, s, O_CLOEXEC));
  SHOW(dup3(s, s, 0x7fff));
  SHOW(dup3(s, s + 1, 0x7fff));
  SHOW(dup3(s, s + 1, O_NONBLOCK));
  SHOW(dup3(s, s + 1, -1));
  SHOW(dup3(s + 10, s + 11, 0));
  show_open(0, 20);
  SHOW(dup3(s, s + 2, O_CLOEXEC));
  show_open(0, 20);
  next_fd();
}

static void open_several(int n) {
  for (int i = 0; i < n; ++i) socket(AF_INET, SOCK_STREAM, 0);
}

static void close_range_reversed(int argc, char** argv) {
  open_several(5);  // 3..7
  show_open(0, 12);
  SHOW(close_range(5, 3, 0));
  show_open(0, 12);
  SHOW(close_range(7, 6, CLOSE_RANGE_CLOEXEC));
  show_open(0, 12);
  SHOW(close_range(~0U, 0, 0));
  SHOW(close_range(4, 4, 0));
  show_open(0, 12);
  SHOW(close_range(100, 200, 0));
  SHOW(syscall(SYS_close_range, 6, 5, 0));
  show_open(0, 12);
  next_fd();
}

static void close_range_bad_flags(int argc, char** argv) {
  open_several(5);  // 3..7
  SHOW(close_range(3, 10, 0x80));
  SHOW(close_range(3, 10, -1));
  SHOW(close_range(3, 10, 1));
  show_open(0, 12);
  SHOW(close_range(5, 6, CLOSE_RANGE_CLOEXEC));
  show_open(0, 12);
  SHOW(close_range(7, ~0U, CLOSE_RANGE_UNSHARE));
  show_open(0, 12);
  SHOW(close_range(3, 3, CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE));
  show_open(0, 12);
  SHOW(close_range(4, 5, 0));
  show_open(0, 12);
  next_fd();
}

static void fcntl_rejected(int argc, char** argv) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct rlimit r;
  getrlimit(RLIMIT_NOFILE, &r);
  SHOW(fcntl(s, 9999));
  SHOW(fcntl(s, -1));
  SHOW(fcntl(-1, F_GETFD));
  SHOW(fcntl(100000, F_GETFL));
  SHOW(fcntl(s, F_DUPFD, -1));
  SHOW(fcntl(s, F_DUPFD_CLOEXEC, -5));
  SHOW(fcntl(s, F_DUPFD, (int)r.rlim_cur));
  SHOW(fcntl(s, F_DUPFD_CLOEXEC, INT_MAX));
  SHOW(fcntl(-1, F_DUPFD, 0));
  SHOW(fcntl(s, F_SETFD, FD_CLOEXEC));
  SHOW(fcntl(s, F_GETFD));
  SHOW(fcntl(s, F_SETFD, 0));
  SHOW(fcntl(s, F_GETFD));
  SHOW(fcntl(s, F_SETFL, O_NONBLOCK));
  SHOW(fcntl(s, F_GETFL) & O_NONBLOCK);
  SHOW(fcntl(s, F_SETPIPE_SZ, 4096));
  SHOW(fcntl(s, F_GETPIPE_SZ));
  SHOW(fcntl(s, F_ADD_SEALS, F_SEAL_WRITE));
  SHOW(fcntl(s, F_DUPFD, 0));
  show_open(0, 10);
  next_fd();
}

static void socket_calls_on_non_sockets(int argc, char** argv) {
  int p[2];
  pipe(p);
  struct sockaddr_in a = loopback(1);
  char buf[4];
  SHOW(listen(p[0], 5));
  SHOW(connect(p[0], (struct sockaddr*)&a, sizeof(a)));
  SHOW(bind(p[0], (struct sockaddr*)&a, sizeof(a)));
  SHOW(accept(p[0], NULL, NULL));
  SHOW(accept4(p[0], NULL, NULL, SOCK_CLOEXEC));
  SHOW(shutdown(p[0], SHUT_RDWR));
  SHOW(send(p[1], "x", 1, 0));
  SHOW(recv(p[0], buf, 1, MSG_DONTWAIT));
  SHOW(sendto(p[1], "x", 1, 0, NULL, 0));
  SHOW(recvfrom(p[0], buf, 1, 0, NULL, NULL));
  struct msghdr m;
  memset(&m, 0, sizeof(m));
  SHOW(sendmsg(p[1], &m, 0));
  SHOW(recvmsg(p[0], &m, 0));
  SHOW(listen(-1, 5));
  SHOW(connect(-1, (struct sockaddr*)&a, sizeof(a)));
  SHOW(bind(100000, (struct sockaddr*)&a, sizeof(a)));
  SHOW(accept(-1, NULL, NULL));
  SHOW(shutdown(-1, SHUT_RDWR));
  SHOW(send(-1, "x", 1, 0));
  SHOW(recv(-1, buf, 1, 0));
  SHOW(read(-1, buf, 1));
  SHOW(write(-1, "x", 1));
  SHOW(write(100000, "x", 1));
  SHOW(read(p[1], buf, 1));
  SHOW(write(p[0], "x", 1));
  next_fd();
}

static void connection_errors(int argc, char** argv) {
  // A bound socket that does not listen: connections to it are refused.
  int bound = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = loopback(0);
  socklen_t len = sizeof(a);
  bind(bound, (struct sockaddr*)&a, sizeof(a));
  getsockname(bound, (struct sockaddr*)&a, &len);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  SHOW(connect(s, (struct sockaddr*)&a, sizeof(a)));
  SHOW(connect(s, (struct sockaddr*)&a, sizeof(a)));
  close(s);
  int port;
  int l = make_listener(&port);
  struct sockaddr_in la = loopback(port);
  s = socket(AF_INET, SOCK_STREAM, 0);
  SHOW(connect(s, (struct sockaddr*)&la, sizeof(la)));
  SHOW(connect(s, (struct sockaddr*)&la, sizeof(la)));
  SHOW(listen(s, 5));
  SHOW(accept(s, NULL, NULL));
  int again = socket(AF_INET, SOCK_STREAM, 0);
  SHOW(bind(again, (struct sockaddr*)&la, sizeof(la)));
  SHOW(bind(bound, (struct sockaddr*)&la, sizeof(la)));
  int fresh = socket(AF_INET, SOCK_STREAM, 0);
  SHOW(shutdown(fresh, SHUT_RDWR));
  SHOW(shutdown(s, 7));
  SHOW(shutdown(s, SHUT_WR));
  SHOW(accept(fresh, NULL, NULL));
  int nb = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  SHOW(connect(nb, (struct sockaddr*)&la, sizeof(la)));
  struct pollfd p = {nb, POLLOUT, 0};
  SHOW(poll(&p, 1, 5000));
  int err = -1;
  socklen_t err_len = sizeof(err);
  getsockopt(nb, SOL_SOCKET, SO_ERROR, &err, &err_len);
  out("SO_ERROR = %s\n", errname(err));
  SHOW(connect(nb, (struct sockaddr*)&la, sizeof(la)));
  int nb2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  SHOW(connect(nb2, (struct sockaddr*)&a, sizeof(a)));
  p.fd = nb2;
  SHOW(poll(&p, 1, 5000));
  getsockopt(nb2, SOL_SOCKET, SO_ERROR, &err, &err_len);
  out("SO_ERROR = %s\n", errname(err));
  SHOW(connect(nb2, (struct sockaddr*)&a, sizeof(a)));
  struct sockaddr_in6 v6;
  memset(&v6, 0, sizeof(v6));
  v6.sin6_family = AF_INET6;
  SHOW(connect(fresh, (struct sockaddr*)&v6, sizeof(v6)));
  SHOW(socketpair(AF_INET, SOCK_STREAM, 0, (int[2]){0, 0}));
  SHOW(listen(l, -1));
  next_fd();
}

// errno after successful calls: glibc leaves it alone, so must the shim.
#define KEEPS(call)                                                      \
  do {                                                                   \
    errno = 1234;                                                        \
    long r_ = (long)(call);                                              \
    int e_ = errno;                                                      \
    out("%s = %ld, errno %d\n", #call, r_, e_);                          \
  } while (0)

static void errno_socket_calls(int argc, char** argv) {
  int port;
  int l = make_listener(&port);
  struct sockaddr_in la = loopback(port);
  int s, a, u, sv[2];
  char buf[16];
  KEEPS(s = socket(AF_INET, SOCK_STREAM, 0));
  KEEPS(connect(s, (struct sockaddr*)&la, sizeof(la)));
  struct pollfd p = {l, POLLIN, 0};
  poll(&p, 1, 5000);
  KEEPS(a = accept(l, NULL, NULL));
  KEEPS(write(s, "abcd", 4));
  KEEPS(send(s, "efgh", 4, 0));
  KEEPS(sendto(s, "ijkl", 4, 0, NULL, 0));
  struct iovec iov = {"mnop", 4};
  KEEPS(writev(s, &iov, 1));
  struct msghdr m;
  memset(&m, 0, sizeof(m));
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  KEEPS(sendmsg(s, &m, 0));
  p.fd = a;
  poll(&p, 1, 5000);
  KEEPS(read(a, buf, 4));
  KEEPS(recv(a, buf, 4, MSG_WAITALL));
  KEEPS(recvfrom(a, buf, 4, MSG_WAITALL, NULL, NULL));
  struct iovec riov = {buf, 4};
  KEEPS(readv(a, &riov, 1));
  m.msg_iov = &riov;
  KEEPS(recvmsg(a, &m, MSG_WAITALL));
  KEEPS(shutdown(s, SHUT_WR));
  KEEPS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  KEEPS(u = socket(AF_INET, SOCK_DGRAM, 0));
  struct sockaddr_in any = loopback(0);
  KEEPS(bind(u, (struct sockaddr*)&any, sizeof(any)));
  int l2 = socket(AF_INET, SOCK_STREAM, 0);
  KEEPS(bind(l2, (struct sockaddr*)&any, sizeof(any)));
  KEEPS(listen(l2, 5));
  struct mmsghdr mm;
  memset(&mm, 0, sizeof(mm));
  mm.msg_hdr.msg_iov = &iov;
  iov.iov_base = "q";
  iov.iov_len = 1;
  mm.msg_hdr.msg_iov = &iov;
  mm.msg_hdr.msg_iovlen = 1;
  KEEPS(sendmmsg(sv[0], &mm, 1, 0));
  mm.msg_hdr.msg_iov = &riov;
  KEEPS(recvmmsg(sv[1], &mm, 1, 0, NULL));
  KEEPS(close(a));
  KEEPS(close(s));
  KEEPS(close(sv[0]));
  KEEPS(close(sv[1]));
  KEEPS(close(u));
}

static void errno_fd_calls(int argc, char** argv) {
  int s = socket(AF_INET, SOCK_STREAM, 0), d, p[2];
  KEEPS(d = dup(s));
  KEEPS(dup2(s, 20));
  KEEPS(dup3(s, 21, O_CLOEXEC));
  KEEPS(fcntl(s, F_DUPFD, 30));
  KEEPS(fcntl(s, F_DUPFD_CLOEXEC, 40));
  KEEPS(fcntl(s, F_GETFD));
  KEEPS(fcntl(s, F_SETFD, FD_CLOEXEC));
  KEEPS(fcntl(s, F_GETFL) & O_ACCMODE);
  KEEPS(close_range(40, 40, 0));
  KEEPS(close_range(30, 30, CLOSE_RANGE_CLOEXEC));
  KEEPS(pipe2(p, O_CLOEXEC));
  KEEPS(write(p[1], "x", 1));
  char c;
  KEEPS(read(p[0], &c, 1));
  KEEPS(close(p[0]));
  KEEPS(close(p[1]));
  int t = socket(AF_INET, SOCK_STREAM, 0);
  FILE* f = fdopen(t, "r+");
  KEEPS(fclose(f));
  FILE* tmp = tmpfile();
  KEEPS(fclose(tmp));
  KEEPS(close(d));
  KEEPS(close(20));
  KEEPS(close(21));
  KEEPS(close(30));
  errno = 1234;
  closefrom(20);
  out("closefrom(20), errno %d\n", errno);
  KEEPS(close(s));
  show_open(0, 50);
}

static void errno_process_calls(int argc, char** argv) {
  pid_t pid;
  int status;
  errno = 1234;
  pid = fork();
  if (pid == 0) {
    out("fork() in the child, errno %d\n", errno);
    _exit(3);
  }
  int e = errno;
  KEEPS(waitpid(pid, &status, 0) == pid);
  out("fork() in the parent, errno %d\n", e);
  pid = fork();
  if (pid == 0) _exit(4);
  errno = 1234;
  pid_t w = wait(&status);
  out("wait() = %s, errno %d, status %d\n", w == pid ? "child" : "other", errno, WEXITSTATUS(status));
  pid = fork();
  if (pid == 0) _exit(5);
  siginfo_t info;
  KEEPS(waitid(P_PID, pid, &info, WEXITED));
  char* sh_argv[] = {"sh", "-c", "exit 6", NULL};
  extern char** environ;
  KEEPS(posix_spawn(&pid, "/bin/sh", NULL, NULL, sh_argv, environ));
  KEEPS(wait4(pid, &status, 0, NULL) == pid);
  KEEPS(posix_spawnp(&pid, "sh", NULL, NULL, sh_argv, environ));
  KEEPS(waitpid(pid, &status, 0) == pid);
  out("status %d\n", WEXITSTATUS(status));
  errno = 1234;
  pid = vfork();
  if (pid == 0) _exit(7);
  e = errno;
  waitpid(pid, &status, 0);
  out("vfork() in the parent, errno %d\n", e);
}

static const struct identity_case cases[] = {
    {"close_invalid_fds", close_invalid_fds},
    {"dup2_negative_fds", dup2_negative_fds},
    {"socket_bad_arguments", socket_bad_arguments},
    {"accept4_bad_flags", accept4_bad_flags},
    {"dup3_rejected", dup3_rejected},
    {"close_range_reversed", close_range_reversed},
    {"close_range_bad_flags", close_range_bad_flags},
    {"fcntl_rejected", fcntl_rejected},
    {"socket_calls_on_non_sockets", socket_calls_on_non_sockets},
    {"connection_errors", connection_errors},
    {"errno_socket_calls", errno_socket_calls},
    {"errno_fd_calls", errno_fd_calls},
    {"errno_process_calls", errno_process_calls},
    {NULL, NULL},
};

int main(int argc, char** argv) { return run_case(cases, argc, argv); }
