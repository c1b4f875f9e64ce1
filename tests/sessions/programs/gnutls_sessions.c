/* GnuTLS against the test's TLS server on 127.0.0.1:port (self-signed: no
 * verification): handshake, "ping", the reply.
 *   gnutls_sessions PORT per-request  5 exchanges, each on a session and
 *                                     connection of its own (open_tls),
 *                                     neither deinit'ed nor closed
 *   gnutls_sessions PORT reuse        one session for 5 exchanges, then
 *                                     gnutls_bye, close, gnutls_deinit
 *   gnutls_sessions PORT no-deinit    gnutls_bye and close(fd), but no
 *                                     gnutls_deinit: the session's memory
 *                                     stays, its socket is closed
 * Prints "session <address> fd <n>" per session and "tls ok <reply>" per
 * exchange. */
#include <gnutls/gnutls.h>

#include "session_common.h"

static gnutls_certificate_credentials_t credentials;

static void must_tls(int result, const char *what) {
  if (result < 0) {
    fprintf(stderr, "%s: %s\n", what, gnutls_strerror(result));
    exit(2);
  }
}

LEAK_SITE static gnutls_session_t open_tls(const char *port, int *fd_out) {
  gnutls_session_t session;
  must_tls(gnutls_init(&session, GNUTLS_CLIENT), "gnutls_init"); /* LEAK: open_tls */
  must_tls(gnutls_set_default_priority(session), "priority");
  must_tls(gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, credentials), "credentials");
  int fd = connect_loopback(port);
  gnutls_transport_set_int(session, fd);
  int result;
  do result = gnutls_handshake(session);
  while (result < 0 && !gnutls_error_is_fatal(result));
  must_tls(result, "handshake");
  printf("session %p fd %d\n", (void *)session, fd);
  *fd_out = fd;
  KEEP_FRAME();
  return session;
}

static void ping(gnutls_session_t session) {
  must_tls((int)gnutls_record_send(session, "ping\n", 5), "send");
  char reply[64];
  ssize_t n;
  /* TLS 1.3 session tickets arrive first: GNUTLS_E_AGAIN, read again. */
  do n = gnutls_record_recv(session, reply, sizeof(reply) - 1);
  while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
  must_tls((int)n, "recv");
  reply[n] = '\0';
  reply[strcspn(reply, "\r\n")] = '\0';
  printf("tls ok %s\n", reply);
}

int main(int argc, char **argv) {
  if (argc < 3) return 99;
  const char *port = argv[1], *mode = argv[2];
  must_tls(gnutls_global_init(), "global_init");
  must_tls(gnutls_certificate_allocate_credentials(&credentials), "credentials");
  int fd;
  if (strcmp(mode, "per-request") == 0) {
    for (int i = 0; i < 5; ++i) ping(open_tls(port, &fd));
    return 0;
  }
  gnutls_session_t session = open_tls(port, &fd);
  for (int i = 0; i < (strcmp(mode, "reuse") == 0 ? 5 : 1); ++i) ping(session);
  gnutls_bye(session, GNUTLS_SHUT_WR); /* no wait for the server's close_notify */
  close(fd);
  if (strcmp(mode, "reuse") == 0) gnutls_deinit(session); /* no-deinit: the mistake */
  gnutls_certificate_free_credentials(credentials);
  gnutls_global_deinit();
  return 0;
}
