/* A run with one of everything the timeline draws, spaced a few ms apart
 * (the shim stamps socket() and close() with a 4 ms clock):
 *   - a connection that does I/O and is closed,
 *   - a connection left open after the peer closed it (CLOSE_WAIT at exit),
 *   - a unix-socket connection to the path argv[1], never closed,
 *   - a session (connleak.h) never ended, and one ended,
 *   - a fork child that leaks a connection, and one that execs /bin/true.
 * argv[2...] are only there to be shown (the test passes hostile strings).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connleak/connleak.h"

static void pause_a_little(void) { usleep(15000); }

static int listen_loopback(struct sockaddr_in *addr) {
  socklen_t len = sizeof(*addr);
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  memset(addr, 0, sizeof(*addr));
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)addr, sizeof(*addr)) != 0 || listen(listener, 16) != 0) exit(99);
  getsockname(listener, (struct sockaddr *)addr, &len);
  return listener;
}

static int __attribute__((noinline)) open_connection(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (const struct sockaddr *)server, sizeof(*server)) != 0) exit(99);
  return fd;
}

static void __attribute__((noinline)) closed_exchange(const struct sockaddr_in *server, int listener) {
  int fd = open_connection(server);
  int peer = accept(listener, NULL, NULL);
  char buf[16];
  write(fd, "ping", 4);
  read(peer, buf, sizeof(buf));
  pause_a_little();
  close(peer);
  close(fd);
}

/* The bug the timeline should show: kept after the peer hung up. */
static int __attribute__((noinline)) leak_after_peer_closed(const struct sockaddr_in *server, int listener) {
  int fd = open_connection(server);
  int peer = accept(listener, NULL, NULL);
  char buf[16];
  write(fd, "hello", 5);
  read(peer, buf, sizeof(buf)); /* unread data would make the close a reset */
  close(peer);
  return fd;
}

static int __attribute__((noinline)) leak_unix_connection(const char *path) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
  int server = socket(AF_UNIX, SOCK_STREAM, 0);
  if (bind(server, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(server, 1) != 0) exit(99);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) exit(99);
  int peer = accept(server, NULL, NULL);
  close(peer);
  close(server);
  return fd;
}

static void __attribute__((noinline)) child_leaks(const struct sockaddr_in *server) {
  open_connection(server);
  pause_a_little();
  _exit(0);
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  static int kept_pool, done_pool;
  struct sockaddr_in server;
  int listener = listen_loopback(&server);
  connleak_session_begin("pool", &kept_pool);
  pause_a_little();
  closed_exchange(&server, listener);
  pause_a_little();
  int dead = leak_after_peer_closed(&server, listener);
  connleak_session_begin("pool", &done_pool);
  connleak_session_transfer_done(&done_pool);
  pause_a_little();
  connleak_session_end(&done_pool);
  int via_unix = leak_unix_connection(argv[1]);
  pause_a_little();
  pid_t child = fork();
  if (child == 0) child_leaks(&server);
  waitpid(child, NULL, 0);
  pid_t exec_child = fork();
  if (exec_child == 0) {
    execl("/bin/true", "true", (char *)NULL);
    _exit(127);
  }
  waitpid(exec_child, NULL, 0);
  pause_a_little();
  unlink(argv[1]);
  printf("kept fds %d %d\n", dead, via_unix);
  return 0;
}
