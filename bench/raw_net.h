/* Raw system calls for the benchmarks' own server side (the loopback
 * listener, the HTTP server thread).
 *
 * The server side is test infrastructure, not the workload: it calls the
 * kernel through syscall(2), which no LD_PRELOAD shim can interpose, so
 * connleak records only the client's calls and the numbers show the client's
 * overhead alone. (strace and valgrind still see every call: they work below
 * libc.) */
#ifndef CONNLEAK_BENCH_RAW_NET_H
#define CONNLEAK_BENCH_RAW_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int raw_socket(int domain, int type, int protocol) {
  return (int)syscall(SYS_socket, domain, type, protocol);
}
static inline int raw_close(int fd) { return (int)syscall(SYS_close, fd); }
static inline int raw_bind(int fd, const struct sockaddr *addr, socklen_t len) {
  return (int)syscall(SYS_bind, fd, addr, len);
}
static inline int raw_listen(int fd, int backlog) { return (int)syscall(SYS_listen, fd, backlog); }
static inline int raw_accept4(int fd, int flags) {
  return (int)syscall(SYS_accept4, fd, NULL, NULL, flags);
}
static inline int raw_getsockname(int fd, struct sockaddr *addr, socklen_t *len) {
  return (int)syscall(SYS_getsockname, fd, addr, len);
}
static inline int raw_setsockopt(int fd, int level, int name, const void *value, socklen_t len) {
  return (int)syscall(SYS_setsockopt, fd, level, name, value, len);
}
static inline int raw_shutdown(int fd, int how) { return (int)syscall(SYS_shutdown, fd, how); }
static inline ssize_t raw_read(int fd, void *buf, size_t len) {
  return (ssize_t)syscall(SYS_read, fd, buf, len);
}
static inline ssize_t raw_write(int fd, const void *buf, size_t len) {
  return (ssize_t)syscall(SYS_write, fd, buf, len);
}
static inline int raw_epoll_create1(int flags) { return (int)syscall(SYS_epoll_create1, flags); }
static inline int raw_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event) {
  return (int)syscall(SYS_epoll_ctl, epfd, op, fd, event);
}
static inline int raw_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout_ms) {
  return (int)syscall(SYS_epoll_wait, epfd, events, max, timeout_ms);
}
static inline int raw_eventfd(unsigned initval, int flags) {
  return (int)syscall(SYS_eventfd2, initval, flags);
}

/* A TCP listener on 127.0.0.1, on a port the kernel picks (written to *addr).
 * Accepted sockets inherit SO_LINGER {1, 0}: closing one resets the
 * connection instead of leaving it in TIME_WAIT, so thousands of connections
 * per second neither exhaust loopback ports nor slow later runs down. */
static inline int raw_loopback_listener(struct sockaddr_in *addr, int flags) {
  int fd = raw_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
  if (fd < 0) return -1;
  int one = 1;
  struct linger reset = {1, 0};
  raw_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  raw_setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  struct sockaddr_in any = {0};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  any.sin_port = 0;
  socklen_t len = sizeof *addr;
  if (raw_bind(fd, (struct sockaddr *)&any, sizeof any) < 0 || raw_listen(fd, 4096) < 0 ||
      raw_getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
    raw_close(fd);
    return -1;
  }
  return fd;
}

#endif
