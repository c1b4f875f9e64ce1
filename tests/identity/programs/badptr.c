// Invalid pointers handed to every hooked call that takes one. The kernel
// answers (mostly EFAULT, sometimes after it did part of the work); the
// program prints each answer and then the next fd number it gets, so an fd
// created or lost on the way shows too.
#include "identity_common.h"

#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <sys/un.h>

#define HIGH_BAD_PTR ((void*)(~(uintptr_t)0 - 4095))

extern char** environ;

static void next_fd(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  out("next socket fd = %d\n", s);
  close(s);
}

// A non-blocking listener with one connection waiting in its queue; *client
// is the connecting side.
static int listener_with_pending(int* client, int* port) {
  int l = make_listener(port);
  fcntl(l, F_SETFL, O_NONBLOCK);
  *client = connect_to(*port);
  struct pollfd p = {l, POLLIN, 0};
  if (*client < 0 || poll(&p, 1, 5000) != 1) {
    out("no pending connection\n");
    exit(3);
  }
  return l;
}

// Another connection waiting on l.
static int add_pending(int l, int port) {
  int c = connect_to(port);
  struct pollfd p = {l, POLLIN, 0};
  if (c < 0 || poll(&p, 1, 5000) != 1) {
    out("no pending connection\n");
    exit(3);
  }
  return c;
}

// What the client of a connection the kernel dropped sees: EOF.
static void client_sees(int c) {
  struct pollfd p = {c, POLLIN, 0};
  int ready = poll(&p, 1, 3000);
  char byte;
  errno = 0;
  long r = ready == 1 ? recv(c, &byte, 1, MSG_DONTWAIT) : -2;
  out("client side: poll %d, recv = %ld %s\n", ready, r, r < 0 ? errname(errno) : "");
}

static void connect_bad_address(int argc, char** argv) {
  int port, client;
  int l = listener_with_pending(&client, &port);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  out("s = %d\n", s);
  SHOW(connect(s, BAD_PTR, 16));
  SHOW(connect(s, NULL, 16));
  SHOW(connect(s, HIGH_BAD_PTR, 16));
  SHOW(connect(s, BAD_PTR, 0));
  SHOW(connect(s, BAD_PTR, -1));
  int u = socket(AF_UNIX, SOCK_STREAM, 0);
  SHOW(connect(u, BAD_PTR, sizeof(struct sockaddr_un)));
  int d = socket(AF_INET, SOCK_DGRAM, 0);
  SHOW(connect(d, BAD_PTR, 16));
  struct sockaddr_in a = loopback(port);
  SHOW(connect(s, (struct sockaddr*)&a, sizeof(a)));
  close(u);
  close(d);
  close(s);
  close(client);
  close(l);
  next_fd();
}

static void bind_bad_address(int argc, char** argv) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  SHOW(bind(s, BAD_PTR, 16));
  SHOW(bind(s, NULL, 16));
  SHOW(bind(s, HIGH_BAD_PTR, 16));
  SHOW(bind(s, BAD_PTR, 0));
  int u = socket(AF_UNIX, SOCK_STREAM, 0);
  SHOW(bind(u, BAD_PTR, sizeof(struct sockaddr_un)));
  int d = socket(AF_INET6, SOCK_DGRAM, 0);
  SHOW(bind(d, BAD_PTR, 28));
  struct sockaddr_in a = loopback(0);
  SHOW(bind(s, (struct sockaddr*)&a, sizeof(a)));
  close(d);
  close(u);
  close(s);
  next_fd();
}

static void accept_bad_addr(int argc, char** argv) {
  int port, client;
  int l = listener_with_pending(&client, &port);
  socklen_t len = sizeof(struct sockaddr_in);
  SHOW(accept(l, BAD_PTR, &len));
  out("len after = %u\n", len);
  client_sees(client);
  int c2 = add_pending(l, port);
  SHOW(accept(l, HIGH_BAD_PTR, &len));
  client_sees(c2);
  SHOW(accept(l, NULL, NULL));
  next_fd();
}

static void accept_bad_len(int argc, char** argv) {
  int port, client;
  int l = listener_with_pending(&client, &port);
  struct sockaddr_in a;
  SHOW(accept(l, (struct sockaddr*)&a, (socklen_t*)BAD_PTR));
  client_sees(client);
  int c2 = add_pending(l, port);
  socklen_t minus_one = (socklen_t)-1;
  SHOW(accept(l, (struct sockaddr*)&a, &minus_one));
  out("len after = %d\n", (int)minus_one);
  client_sees(c2);
  add_pending(l, port);
  socklen_t two = 2;
  SHOW(accept(l, (struct sockaddr*)&a, &two));
  out("len after = %u, family %d\n", two, a.sin_family);
  next_fd();
}

static void accept_addr_without_len(int argc, char** argv) {
  int port, client;
  int l = listener_with_pending(&client, &port);
  struct sockaddr_in a;
  SHOW(accept(l, (struct sockaddr*)&a, NULL));
  client_sees(client);
  int c2 = add_pending(l, port);
  SHOW(accept(l, BAD_PTR, NULL));
  client_sees(c2);
  next_fd();
}

static void accept_len_without_addr(int argc, char** argv) {
  int port, client;
  int l = listener_with_pending(&client, &port);
  SHOW(accept(l, NULL, (socklen_t*)BAD_PTR));
  add_pending(l, port);
  socklen_t len = 5;
  SHOW(accept(l, NULL, &len));
  out("len after = %u\n", len);
  SHOW(accept(l, NULL, NULL));
  next_fd();
}

static void accept4_bad_pointers(int argc, char** argv) {
  int port, client;
  int l = listener_with_pending(&client, &port);
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  SHOW(accept4(l, BAD_PTR, &len, SOCK_CLOEXEC));
  client_sees(client);
  int c = add_pending(l, port);
  SHOW(accept4(l, (struct sockaddr*)&a, (socklen_t*)BAD_PTR, SOCK_NONBLOCK));
  client_sees(c);
  c = add_pending(l, port);
  SHOW(accept4(l, (struct sockaddr*)&a, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK));
  client_sees(c);
  add_pending(l, port);
  int fd;
  SHOW_AS(fd, accept4(l, NULL, (socklen_t*)BAD_PTR, SOCK_CLOEXEC));
  out("cloexec = %d\n", fcntl(fd, F_GETFD) & FD_CLOEXEC);
  next_fd();
}

static void socketpair_bad_vector(int argc, char** argv) {
  SHOW(socketpair(AF_UNIX, SOCK_STREAM, 0, (int*)BAD_PTR));
  SHOW(socketpair(AF_UNIX, SOCK_DGRAM, 0, NULL));
  SHOW(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, (int*)HIGH_BAD_PTR));
  next_fd();
}

static void recvmsg_bad_msghdr(int argc, char** argv) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  write(sv[1], "hello world", 11);
  SHOW(recvmsg(sv[0], BAD_PTR, 0));
  SHOW(recvmsg(sv[0], NULL, MSG_DONTWAIT));
  char buf[32];
  struct msghdr m;
  memset(&m, 0, sizeof(m));
  m.msg_iov = BAD_PTR;
  m.msg_iovlen = 1;
  SHOW(recvmsg(sv[0], &m, 0));
  struct iovec bad_base = {BAD_PTR, 4};
  m.msg_iov = &bad_base;
  SHOW(recvmsg(sv[0], &m, 0));
  struct iovec iov = {buf, 4};
  m.msg_iov = &iov;
  m.msg_iovlen = 1u << 20;
  SHOW(recvmsg(sv[0], &m, 0));
  m.msg_iovlen = 1;
  m.msg_name = BAD_PTR;
  m.msg_namelen = 16;
  SHOW(recvmsg(sv[0], &m, 0));
  m.msg_name = NULL;
  m.msg_namelen = 0;
  SHOW(recvmsg(sv[0], &m, 0));
  out("got \"%.*s\"\n", 4, buf);
  SHOW(recvmsg(sv[0], &m, MSG_DONTWAIT));
  SHOW(recvmsg(sv[0], &m, MSG_DONTWAIT));
  next_fd();
}

// Sends `fd` over sv with SCM_RIGHTS and one byte.
static void send_fd(int over, int fd) {
  char byte = 'x';
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof(control));
  struct msghdr m;
  memset(&m, 0, sizeof(m));
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control.buf;
  m.msg_controllen = sizeof(control.buf);
  struct cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (sendmsg(over, &m, 0) != 1) out("sendmsg SCM_RIGHTS: %s\n", errname(errno));
}

static void recvmsg_bad_control(int argc, char** argv) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  int passed = socket(AF_INET, SOCK_STREAM, 0);
  out("passed = %d\n", passed);
  char byte;
  struct iovec iov = {&byte, 1};
  struct msghdr m;

  send_fd(sv[1], passed);
  memset(&m, 0, sizeof(m));
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = BAD_PTR;
  m.msg_controllen = CMSG_SPACE(sizeof(int));
  SHOW(recvmsg(sv[0], &m, 0));
  out("controllen %zu, ctrunc %d\n", (size_t)m.msg_controllen, !!(m.msg_flags & MSG_CTRUNC));
  next_fd();

  send_fd(sv[1], passed);
  memset(&m, 0, sizeof(m));
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = HIGH_BAD_PTR;
  m.msg_controllen = 4096;
  SHOW(recvmsg(sv[0], &m, MSG_CMSG_CLOEXEC));
  out("controllen %zu, ctrunc %d\n", (size_t)m.msg_controllen, !!(m.msg_flags & MSG_CTRUNC));
  next_fd();

  // Too short for the fd: truncated, the fd is not installed.
  send_fd(sv[1], passed);
  char small[sizeof(struct cmsghdr)];
  memset(&m, 0, sizeof(m));
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = small;
  m.msg_controllen = sizeof(small);
  SHOW(recvmsg(sv[0], &m, 0));
  out("controllen %zu, ctrunc %d\n", (size_t)m.msg_controllen, !!(m.msg_flags & MSG_CTRUNC));
  next_fd();

  // A bad msghdr with a pending fd: nothing is received.
  send_fd(sv[1], passed);
  SHOW(recvmsg(sv[0], BAD_PTR, 0));
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&m, 0, sizeof(m));
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control.buf;
  m.msg_controllen = sizeof(control.buf);
  SHOW(recvmsg(sv[0], &m, 0));
  struct cmsghdr* c = CMSG_FIRSTHDR(&m);
  int got = -1;
  if (c && c->cmsg_type == SCM_RIGHTS) memcpy(&got, CMSG_DATA(c), sizeof(int));
  out("received fd %d\n", got);
  next_fd();
}

static void sendmsg_bad_msghdr(int argc, char** argv) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  SHOW(sendmsg(sv[0], BAD_PTR, 0));
  SHOW(sendmsg(sv[0], NULL, 0));
  struct msghdr m;
  memset(&m, 0, sizeof(m));
  m.msg_iov = BAD_PTR;
  m.msg_iovlen = 1;
  SHOW(sendmsg(sv[0], &m, 0));
  struct iovec bad_base = {BAD_PTR, 4};
  m.msg_iov = &bad_base;
  SHOW(sendmsg(sv[0], &m, 0));
  struct iovec iov = {"data", 4};
  m.msg_iov = &iov;
  m.msg_control = BAD_PTR;
  m.msg_controllen = 32;
  SHOW(sendmsg(sv[0], &m, 0));
  m.msg_control = NULL;
  m.msg_controllen = 0;
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  m.msg_name = BAD_PTR;
  m.msg_namelen = 16;
  SHOW(sendmsg(u, &m, 0));
  m.msg_name = NULL;
  m.msg_namelen = 0;
  SHOW(sendmsg(sv[0], &m, 0));
  char buf[8];
  SHOW(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT));
  next_fd();
}

static void mmsg_bad_vectors(int argc, char** argv) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
  SHOW(sendmmsg(sv[0], BAD_PTR, 2, 0));
  SHOW(recvmmsg(sv[1], BAD_PTR, 2, MSG_DONTWAIT, NULL));
  SHOW(sendmmsg(sv[0], NULL, 0, 0));
  struct mmsghdr vec[2];
  char a[4] = "aaaa", b[4] = "bbbb", r0[8] = {0}, r1[8] = {0};
  struct iovec iov[2] = {{a, 4}, {b, 4}};
  memset(vec, 0, sizeof(vec));
  vec[0].msg_hdr.msg_iov = &iov[0];
  vec[0].msg_hdr.msg_iovlen = 1;
  vec[1].msg_hdr.msg_iov = BAD_PTR;
  vec[1].msg_hdr.msg_iovlen = 1;
  SHOW(sendmmsg(sv[0], vec, 2, 0));
  out("msg_len %u %u\n", vec[0].msg_len, vec[1].msg_len);

  // The vector's second entry on an unmapped page.
  long page = sysconf(_SC_PAGESIZE);
  char* pages = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(pages + page, page);
  struct mmsghdr* edge = (struct mmsghdr*)(pages + page - sizeof(struct mmsghdr));
  memset(edge, 0, sizeof(*edge));
  edge->msg_hdr.msg_iov = &iov[1];
  edge->msg_hdr.msg_iovlen = 1;
  SHOW(sendmmsg(sv[0], edge, 2, 0));

  struct timespec zero = {0, 0};
  struct iovec riov[2] = {{r0, sizeof(r0)}, {r1, sizeof(r1)}};
  memset(vec, 0, sizeof(vec));
  vec[0].msg_hdr.msg_iov = &riov[0];
  vec[0].msg_hdr.msg_iovlen = 1;
  vec[1].msg_hdr.msg_iov = &riov[1];
  vec[1].msg_hdr.msg_iovlen = 1;
  SHOW(recvmmsg(sv[1], vec, 2, MSG_DONTWAIT, (struct timespec*)BAD_PTR));
  SHOW(recvmmsg(sv[1], vec, 2, MSG_DONTWAIT, &zero));
  out("msg_len %u %u: %.*s %.*s\n", vec[0].msg_len, vec[1].msg_len, (int)vec[0].msg_len, r0, (int)vec[1].msg_len,
      r1);
  // Two datagrams queued; the second entry's buffer is bad.
  send(sv[0], "cccc", 4, 0);
  send(sv[0], "dddd", 4, 0);
  vec[1].msg_hdr.msg_iov = BAD_PTR;
  SHOW(recvmmsg(sv[1], vec, 2, MSG_DONTWAIT, NULL));
  SHOW(recvmmsg(sv[1], vec, 1, MSG_DONTWAIT, NULL));
  SHOW(recvmmsg(sv[1], vec, 1, MSG_DONTWAIT, NULL));
  munmap(pages, page);
  next_fd();
}

static void readv_writev_bad_iov(int argc, char** argv) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  SHOW(writev(sv[0], BAD_PTR, 1));
  SHOW(writev(sv[0], NULL, 1));
  struct iovec bad = {BAD_PTR, 10};
  SHOW(writev(sv[0], &bad, 1));
  struct iovec mixed[2] = {{"hello", 5}, {BAD_PTR, 5}};
  SHOW(writev(sv[0], mixed, 2));
  SHOW(writev(sv[0], mixed, -1));
  SHOW(writev(sv[0], mixed, 100000));
  SHOW(write(sv[0], "world", 5));
  SHOW(readv(sv[1], BAD_PTR, 1));
  SHOW(readv(sv[1], &bad, 1));
  char buf[16] = {0};
  struct iovec good = {buf, sizeof(buf)};
  SHOW(readv(sv[1], &good, -1));
  SHOW(readv(sv[1], &good, 1));
  out("read \"%s\"\n", buf);
  next_fd();
}

static void read_write_bad_buffers(int argc, char** argv) {
  int port, client;
  int l = listener_with_pending(&client, &port);
  int server = accept(l, NULL, NULL);
  SHOW(write(client, BAD_PTR, 10));
  SHOW(send(client, BAD_PTR, 10, 0));
  SHOW(send(client, HIGH_BAD_PTR, 10, MSG_NOSIGNAL));
  SHOW(write(client, "hello", 5));
  struct pollfd p = {server, POLLIN, 0};
  poll(&p, 1, 5000);
  SHOW(read(server, BAD_PTR, 5));
  SHOW(recv(server, BAD_PTR, 5, 0));
  SHOW(recvfrom(server, BAD_PTR, 5, 0, NULL, NULL));
  SHOW(recv(server, NULL, 5, MSG_DONTWAIT));
  char buf[8] = {0};
  SHOW(read(server, buf, 5));
  out("read \"%s\"\n", buf);
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  SHOW(write(sv[0], BAD_PTR, 3));
  SHOW(write(sv[0], "abc", 3));
  SHOW(read(sv[1], BAD_PTR, 3));
  SHOW(recv(sv[1], HIGH_BAD_PTR, 3, 0));
  SHOW(read(sv[1], buf, 3));
  SHOW(read(sv[1], buf, 0));
  SHOW(recv(sv[1], buf, 3, MSG_DONTWAIT));
  next_fd();
}

static void sendto_bad_destination(int argc, char** argv) {
  int receiver = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = loopback(0);
  socklen_t len = sizeof(a);
  bind(receiver, (struct sockaddr*)&a, sizeof(a));
  getsockname(receiver, (struct sockaddr*)&a, &len);
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  SHOW(sendto(u, "x", 1, 0, BAD_PTR, 16));
  SHOW(sendto(u, "x", 1, 0, HIGH_BAD_PTR, sizeof(a)));
  SHOW(sendto(u, "x", 1, 0, NULL, 16));
  SHOW(sendto(u, BAD_PTR, 1, 0, (struct sockaddr*)&a, sizeof(a)));
  SHOW(sendto(u, "x", 1, 0, (struct sockaddr*)&a, 2));
  SHOW(sendto(u, "one", 3, 0, (struct sockaddr*)&a, sizeof(a)));
  SHOW(sendto(u, "two", 3, 0, (struct sockaddr*)&a, sizeof(a)));
  SHOW(sendto(u, "six", 3, 0, (struct sockaddr*)&a, sizeof(a)));
  struct pollfd p = {receiver, POLLIN, 0};
  poll(&p, 1, 5000);
  char buf[8];
  struct sockaddr_in from;
  socklen_t from_len = sizeof(from);
  SHOW(recvfrom(receiver, buf, sizeof(buf), 0, BAD_PTR, &from_len));
  SHOW(recvfrom(receiver, buf, sizeof(buf), 0, (struct sockaddr*)&from, (socklen_t*)BAD_PTR));
  SHOW(recvfrom(receiver, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr*)&from, &from_len));
  SHOW(recvfrom(receiver, buf, sizeof(buf), MSG_DONTWAIT, NULL, NULL));
  next_fd();
}

static void pipe2_bad_pointer(int argc, char** argv) {
  SHOW(pipe2((int*)BAD_PTR, 0));
  SHOW(pipe2((int*)BAD_PTR, O_CLOEXEC));
  SHOW(pipe2(NULL, O_NONBLOCK));
  SHOW(pipe((int*)BAD_PTR));
  int fds[2];
  SHOW(pipe2(fds, 0x7fff0000));
  SHOW(pipe2(fds, O_CLOEXEC));
  out("pipe fds %d %d\n", fds[0], fds[1]);
  next_fd();
}

static void fcntl_lock_bad_pointer(int argc, char** argv) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  SHOW(fcntl(s, F_SETLK, BAD_PTR));
  SHOW(fcntl(s, F_SETLKW, BAD_PTR));
  SHOW(fcntl(s, F_GETLK, BAD_PTR));
  SHOW(fcntl(s, F_OFD_SETLK, BAD_PTR));
  SHOW(fcntl(s, F_OFD_GETLK, BAD_PTR));
  SHOW(fcntl(s, F_GETOWN_EX, BAD_PTR));
  SHOW(fcntl(s, F_SETOWN_EX, BAD_PTR));
  SHOW(fcntl(s, F_SETLK, NULL));
  SHOW(fcntl64(s, F_SETLK, BAD_PTR));
  SHOW(fcntl64(s, F_GETLK, HIGH_BAD_PTR));
  FILE* f = tmpfile();
  int file = fileno(f);
  SHOW(fcntl(file, F_SETLK, BAD_PTR));
  struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  SHOW(fcntl(file, F_SETLK, &lock));
  SHOW(fcntl(s, F_SETLK, &lock));
  fclose(f);
  close(s);
  next_fd();
}

static void sendfile_bad_offset(int argc, char** argv) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  FILE* f = tmpfile();
  fputs("file contents", f);
  fflush(f);
  int file = fileno(f);
  SHOW(sendfile(sv[0], file, (off_t*)BAD_PTR, 4));
  SHOW(sendfile64(sv[0], file, (off64_t*)BAD_PTR, 4));
  SHOW(sendfile(sv[0], -1, NULL, 4));
  SHOW(sendfile(sv[0], sv[1], NULL, 4));
  off_t offset = 0;
  SHOW(sendfile(sv[0], file, &offset, 4));
  out("offset %ld\n", (long)offset);
  char buf[8] = {0};
  SHOW(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT));
  fclose(f);
  next_fd();
}

// Like SHOW for calls returning a pid: "child" instead of its number.
#define SHOW_PID(call, pid)                                              \
  do {                                                                   \
    errno = 0;                                                           \
    long r_ = (long)(call);                                              \
    int e_ = errno;                                                      \
    if (r_ == (pid))                                                     \
      out("%s = child\n", #call);                                        \
    else                                                                 \
      show_result(#call, r_, e_);                                        \
  } while (0)

static void wait_bad_status_pointer(int argc, char** argv) {
  pid_t pid = fork();
  if (pid == 0) _exit(7);
  struct pollfd none;
  poll(&none, 0, 50);
  SHOW_PID(waitpid(pid, (int*)BAD_PTR, 0), pid);
  int status = 0;
  SHOW_PID(waitpid(pid, &status, 0), pid);
  pid = fork();
  if (pid == 0) _exit(8);
  struct rusage* bad_usage = (struct rusage*)BAD_PTR;
  SHOW_PID(wait4(pid, &status, 0, bad_usage), pid);
  SHOW_PID(wait4(pid, &status, 0, NULL), pid);
  pid = fork();
  if (pid == 0) _exit(9);
  SHOW(waitid(P_PID, pid, (siginfo_t*)BAD_PTR, WEXITED));
  SHOW(waitid(P_PID, pid, NULL, WEXITED | WNOHANG));
  pid = fork();
  if (pid == 0) _exit(10);
  poll(&none, 0, 50);
  SHOW_PID(wait((int*)BAD_PTR), pid);
  SHOW_PID(wait(&status), pid);
  pid = fork();
  if (pid == 0) _exit(11);
  poll(&none, 0, 50);
  SHOW_PID(wait3(&status, 0, (struct rusage*)BAD_PTR), pid);
  SHOW_PID(wait3(&status, WNOHANG, NULL), pid);
  next_fd();
}

// Runs `what` in a forked child, which prints its own result; then how the
// child ended.
static void in_child(const char* label, void (*what)(void)) {
  pid_t pid = fork();
  if (pid == 0) {
    what();
    _exit(0);
  }
  int status = wait_child(pid, 5, NULL);
  show_status(label, status);
}

static char* true_argv[] = {"true", NULL};
static char* bad_element[] = {"true", BAD_PTR, NULL};
static char* empty_env[] = {NULL};

static void exec_bad_path_1(void) { SHOW(execve(BAD_PTR, true_argv, environ)); }
static void exec_bad_path_2(void) { SHOW(execve(NULL, true_argv, environ)); }
static void exec_bad_path_3(void) { SHOW(execv(HIGH_BAD_PTR, true_argv)); }
static void exec_bad_path_4(void) { SHOW(execve("/nonexistent/true", true_argv, environ)); }

static void execve_bad_path(int argc, char** argv) {
  in_child("execve(BAD_PTR)", exec_bad_path_1);
  in_child("execve(NULL)", exec_bad_path_2);
  in_child("execv(HIGH_BAD_PTR)", exec_bad_path_3);
  in_child("execve(nonexistent)", exec_bad_path_4);
}

static void exec_bad_argv_1(void) { SHOW(execve("/bin/true", BAD_PTR, environ)); }
static void exec_bad_argv_2(void) { SHOW(execve("/bin/true", bad_element, environ)); }
static void exec_bad_argv_3(void) { SHOW(execv("/bin/true", BAD_PTR)); }

static void exec_bad_argv_4(void) {
  int fd = open("/bin/true", O_RDONLY | O_CLOEXEC);
  SHOW(fexecve(fd, (char**)BAD_PTR, environ));
}

static void execve_bad_argv(int argc, char** argv) {
  in_child("execve(argv=BAD_PTR)", exec_bad_argv_1);
  in_child("execve(argv={true,BAD_PTR})", exec_bad_argv_2);
  in_child("execv(argv=BAD_PTR)", exec_bad_argv_3);
  in_child("fexecve(argv=BAD_PTR)", exec_bad_argv_4);
}

static void exec_bad_envp_1(void) { SHOW(execve("/bin/true", true_argv, BAD_PTR)); }
static void exec_bad_envp_2(void) {
  char* env[] = {"A=1", BAD_PTR, NULL};
  SHOW(execve("/bin/true", true_argv, env));
}
static void exec_bad_envp_3(void) {
  char* env[] = {HIGH_BAD_PTR, NULL};
  SHOW(execve("/bin/true", true_argv, env));
}
static void exec_bad_envp_4(void) { SHOW(execve("/nonexistent", true_argv, empty_env)); }
static void exec_bad_envp_5(void) { SHOW(execle("/bin/true", "true", (char*)NULL, (char**)BAD_PTR)); }
static void exec_bad_envp_6(void) {
  int fd = open("/bin/true", O_RDONLY | O_CLOEXEC);
  SHOW(fexecve(fd, true_argv, (char**)BAD_PTR));
}

static void execve_bad_envp(int argc, char** argv) {
  in_child("execve(envp=BAD_PTR)", exec_bad_envp_1);
  in_child("execve(envp={A=1,BAD_PTR})", exec_bad_envp_2);
  in_child("execve(envp={HIGH_BAD_PTR})", exec_bad_envp_3);
  in_child("execve(nonexistent, envp={})", exec_bad_envp_4);
  in_child("execle(envp=BAD_PTR)", exec_bad_envp_5);
  in_child("fexecve(envp=BAD_PTR)", exec_bad_envp_6);
}

// posix_spawn hands path and envp to the child's execve, which rejects bad
// ones: glibc's parent never reads them, so the call returns EFAULT.
static void posix_spawn_bad_pointers(int argc, char** argv) {
  start_watchdog(10);
  pid_t pid = -1;
  int status = 0;
  char* env_bad_element[] = {"A=1", BAD_PTR, NULL};
  int r = posix_spawn(&pid, BAD_PTR, NULL, NULL, true_argv, environ);
  out("posix_spawn(path=BAD_PTR) = %d %s\n", r, r ? errname(r) : "");
  r = posix_spawn(&pid, "/bin/true", NULL, NULL, true_argv, BAD_PTR);
  out("posix_spawn(envp=BAD_PTR) = %d %s\n", r, r ? errname(r) : "");
  r = posix_spawn(&pid, "/bin/true", NULL, NULL, true_argv, env_bad_element);
  out("posix_spawn(envp={A=1,BAD_PTR}) = %d %s\n", r, r ? errname(r) : "");
  r = posix_spawn(NULL, "/bin/true", NULL, NULL, true_argv, environ);
  out("posix_spawn(pid=NULL) = %d %s\n", r, r ? errname(r) : "");
  out("reaped a child: %d\n", waitpid(-1, &status, 0) > 0);
  SHOW(waitpid(-1, NULL, WNOHANG));
  next_fd();
}

// `size` bytes that end exactly where an unmapped page begins: valid for
// the kernel, a fault for anyone reading one byte further.
static void* at_page_end(size_t size) {
  long page = sysconf(_SC_PAGESIZE);
  char* p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(p + page, page);
  return p + page - size;
}

static char* string_at_page_end(const char* s) {
  char* p = at_page_end(strlen(s) + 1);
  strcpy(p, s);
  return p;
}

static void page_edge_arguments(int argc, char** argv) {
  start_watchdog(10);
  int port;
  int l = make_listener(&port);
  struct sockaddr_in* to = at_page_end(sizeof(*to));
  *to = loopback(port);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  SHOW(connect(s, (struct sockaddr*)to, sizeof(*to)));
  socklen_t* len = at_page_end(sizeof(socklen_t));
  struct sockaddr_in* peer = at_page_end(sizeof(*peer));
  *len = sizeof(*peer);
  int a;
  SHOW_AS(a, accept(l, (struct sockaddr*)peer, len));
  out("len %u family %d\n", *len, peer->sin_family);
  int c2 = connect_to(port);
  *len = sizeof(*peer);
  SHOW(accept4(l, (struct sockaddr*)peer, len, SOCK_CLOEXEC));
  close(c2);
  struct sockaddr_in* any = at_page_end(sizeof(*any));
  *any = loopback(0);
  int b = socket(AF_INET, SOCK_DGRAM, 0);
  SHOW(bind(b, (struct sockaddr*)any, sizeof(*any)));
  struct sockaddr_in self_addr;
  socklen_t self_len = sizeof(self_addr);
  getsockname(b, (struct sockaddr*)&self_addr, &self_len);
  *to = self_addr;
  SHOW(sendto(b, "d", 1, 0, (struct sockaddr*)to, sizeof(*to)));
  // AF_UNIX names as short as the length says.
  char dir[] = "/tmp/connleak-identity-XXXXXX";
  mkdtemp(dir);
  char path[200];
  snprintf(path, sizeof(path), "%s/s", dir);
  socklen_t ulen = offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
  struct sockaddr_un* un = at_page_end(ulen);
  un->sun_family = AF_UNIX;
  memcpy(un->sun_path, path, strlen(path) + 1);
  int ul = socket(AF_UNIX, SOCK_STREAM, 0);
  SHOW(bind(ul, (struct sockaddr*)un, ulen));
  SHOW(listen(ul, 5));
  int uc = socket(AF_UNIX, SOCK_STREAM, 0);
  SHOW(connect(uc, (struct sockaddr*)un, ulen));
  unlink(path);
  rmdir(dir);
  // Vectors and headers at the edge.
  int* sv = at_page_end(2 * sizeof(int));
  SHOW(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
  int* pfd = at_page_end(2 * sizeof(int));
  SHOW(pipe2(pfd, O_CLOEXEC));
  struct iovec* iov = at_page_end(sizeof(struct iovec));
  iov->iov_base = string_at_page_end("edge");
  iov->iov_len = 4;
  struct msghdr* m = at_page_end(sizeof(*m));
  memset(m, 0, sizeof(*m));
  m->msg_iov = iov;
  m->msg_iovlen = 1;
  SHOW(sendmsg(sv[0], m, 0));
  SHOW(writev(sv[0], iov, 1));
  struct mmsghdr* mm = at_page_end(sizeof(*mm));
  memset(mm, 0, sizeof(*mm));
  mm->msg_hdr.msg_iov = iov;
  mm->msg_hdr.msg_iovlen = 1;
  SHOW(sendmmsg(sv[0], mm, 1, 0));
  send_fd(sv[0], s);
  char* rbuf = at_page_end(4);
  struct iovec* riov = at_page_end(sizeof(struct iovec));
  riov->iov_base = rbuf;
  riov->iov_len = 4;
  m->msg_iov = riov;
  SHOW(recvmsg(sv[1], m, 0));
  SHOW(readv(sv[1], riov, 1));
  mm->msg_hdr.msg_iov = riov;
  SHOW(recvmmsg(sv[1], mm, 1, MSG_DONTWAIT, NULL));
  size_t control_size = CMSG_SPACE(sizeof(int));
  m->msg_control = at_page_end(control_size);
  m->msg_controllen = control_size;
  riov->iov_len = 1;
  SHOW(recvmsg(sv[1], m, 0));
  struct cmsghdr* cm = CMSG_FIRSTHDR(m);
  int got = -1;
  if (cm && cm->cmsg_type == SCM_RIGHTS) memcpy(&got, CMSG_DATA(cm), sizeof(int));
  out("received fd %d\n", got);
  char* buf = at_page_end(1);
  SHOW(write(sv[0], "z", 1));
  SHOW(read(sv[1], buf, 1));
  SHOW(send(sv[0], buf, 1, 0));
  SHOW(recv(sv[1], buf, 1, 0));
  SHOW(sendto(sv[0], buf, 1, 0, NULL, 0));
  SHOW(recvfrom(sv[1], buf, 1, 0, NULL, NULL));
  // Exec arguments at the edge, in a child.
  pid_t pid = fork();
  if (pid == 0) {
    char** args = at_page_end(2 * sizeof(char*));
    args[0] = string_at_page_end("true");
    args[1] = NULL;
    char** env = at_page_end(2 * sizeof(char*));
    env[0] = string_at_page_end("A=1");
    env[1] = NULL;
    execve(string_at_page_end("/bin/true"), args, env);
    out("execve: %s\n", errname(errno));
    _exit(1);
  }
  int* status = at_page_end(sizeof(int));
  double deadline = now_seconds() + 5;
  pid_t w;
  while ((w = waitpid(pid, status, WNOHANG)) == 0 && now_seconds() < deadline) {
    struct timespec t = {0, 1000000};
    nanosleep(&t, NULL);
  }
  out("execve child: waited %d, exited %d\n", w == pid, WIFEXITED(*status) ? WEXITSTATUS(*status) : -1);
  char** sargs = at_page_end(2 * sizeof(char*));
  sargs[0] = string_at_page_end("true");
  sargs[1] = NULL;
  char** senv = at_page_end(sizeof(char*));
  senv[0] = NULL;
  pid_t* spid = at_page_end(sizeof(pid_t));
  int r = posix_spawn(spid, string_at_page_end("/bin/true"), NULL, NULL, sargs, senv);
  out("posix_spawn = %d\n", r);
  if (r == 0) out("spawned child: waited %d\n", waitpid(*spid, status, 0) == *spid);
  next_fd();
}

// Out-pointers into read-only memory: the kernel did the work, then could
// not write the result back.
static void readonly_out_pointers(int argc, char** argv) {
  long page = sysconf(_SC_PAGESIZE);
  char* ro = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  socklen_t* len = (socklen_t*)ro;
  *len = sizeof(struct sockaddr_in);
  struct msghdr* m = (struct msghdr*)(ro + 64);
  static char byte;
  static struct iovec iov = {&byte, 1};
  static union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(m, 0, sizeof(*m));
  m->msg_iov = &iov;
  m->msg_iovlen = 1;
  m->msg_control = control.buf;
  m->msg_controllen = sizeof(control.buf);
  mprotect(ro, page, PROT_READ);
  int port, client;
  int l = listener_with_pending(&client, &port);
  struct sockaddr_in a;
  SHOW(accept(l, (struct sockaddr*)&a, len));
  client_sees(client);
  add_pending(l, port);
  SHOW(accept4(l, (struct sockaddr*)&a, len, SOCK_CLOEXEC));
  SHOW(socketpair(AF_UNIX, SOCK_STREAM, 0, (int*)(ro + 256)));
  SHOW(pipe2((int*)(ro + 256), 0));
  next_fd();
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  int passed = socket(AF_INET, SOCK_STREAM, 0);
  out("passed %d\n", passed);
  send_fd(sv[1], passed);
  SHOW(recvmsg(sv[0], m, 0));
  next_fd();
  pid_t pid = fork();
  if (pid == 0) _exit(3);
  struct pollfd none;
  poll(&none, 0, 50);
  SHOW_PID(waitpid(pid, (int*)(ro + 512), 0), pid);
  SHOW(waitpid(pid, NULL, WNOHANG));
  next_fd();
}

static const struct identity_case cases[] = {
    {"page_edge_arguments", page_edge_arguments},
    {"readonly_out_pointers", readonly_out_pointers},
    {"posix_spawn_bad_pointers", posix_spawn_bad_pointers},
    {"connect_bad_address", connect_bad_address},
    {"bind_bad_address", bind_bad_address},
    {"accept_bad_addr", accept_bad_addr},
    {"accept_bad_len", accept_bad_len},
    {"accept_addr_without_len", accept_addr_without_len},
    {"accept_len_without_addr", accept_len_without_addr},
    {"accept4_bad_pointers", accept4_bad_pointers},
    {"socketpair_bad_vector", socketpair_bad_vector},
    {"recvmsg_bad_msghdr", recvmsg_bad_msghdr},
    {"recvmsg_bad_control", recvmsg_bad_control},
    {"sendmsg_bad_msghdr", sendmsg_bad_msghdr},
    {"mmsg_bad_vectors", mmsg_bad_vectors},
    {"readv_writev_bad_iov", readv_writev_bad_iov},
    {"read_write_bad_buffers", read_write_bad_buffers},
    {"sendto_bad_destination", sendto_bad_destination},
    {"pipe2_bad_pointer", pipe2_bad_pointer},
    {"fcntl_lock_bad_pointer", fcntl_lock_bad_pointer},
    {"sendfile_bad_offset", sendfile_bad_offset},
    {"wait_bad_status_pointer", wait_bad_status_pointer},
    {"execve_bad_path", execve_bad_path},
    {"execve_bad_argv", execve_bad_argv},
    {"execve_bad_envp", execve_bad_envp},
    {NULL, NULL},
};

int main(int argc, char** argv) { return run_case(cases, argc, argv); }
