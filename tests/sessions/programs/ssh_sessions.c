/* libssh2 against the test's sshd on 127.0.0.1:port: the SSH handshake
 * (key exchange; no authentication needed for what is tested here).
 *   ssh_sessions PORT per-request  5 sessions, each on a connection of its
 *                                  own (open_ssh), neither freed nor closed
 *   ssh_sessions PORT reuse        one session: handshake, disconnect,
 *                                  libssh2_session_free, close
 *   ssh_sessions PORT no-free      disconnect and close(fd), but no
 *                                  libssh2_session_free: the session's
 *                                  memory stays, its socket is closed
 * Prints "session <address> fd <n>" per session. */
#include <libssh2.h>

#include "session_common.h"

LEAK_SITE static LIBSSH2_SESSION *open_ssh(const char *port, int *fd_out) {
  LIBSSH2_SESSION *session = libssh2_session_init(); /* LEAK: open_ssh */
  must(session != NULL, "libssh2_session_init");
  int fd = connect_loopback(port);
  int result = libssh2_session_handshake(session, fd);
  if (result != 0) {
    fprintf(stderr, "handshake failed: %d\n", result);
    exit(2);
  }
  printf("session %p fd %d\n", (void *)session, fd);
  *fd_out = fd;
  KEEP_FRAME();
  return session;
}

int main(int argc, char **argv) {
  if (argc < 3) return 99;
  const char *port = argv[1], *mode = argv[2];
  must(libssh2_init(0) == 0, "libssh2_init");
  int fd;
  if (strcmp(mode, "per-request") == 0) {
    for (int i = 0; i < 5; ++i) open_ssh(port, &fd);
    return 0;
  }
  LIBSSH2_SESSION *session = open_ssh(port, &fd);
  libssh2_session_disconnect(session, "done");
  if (strcmp(mode, "reuse") == 0) libssh2_session_free(session); /* no-free: the mistake */
  close(fd);
  libssh2_exit();
  return 0;
}
