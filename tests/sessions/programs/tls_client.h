/* The TLS client steps shared by the OpenSSL programs: a handshake with the
 * test's TLS server on 127.0.0.1:port (self-signed certificate, so no
 * verification), one "ping" and its reply. */
#ifndef TLS_CLIENT_H
#define TLS_CLIENT_H

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "session_common.h"

static inline void must_ssl(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "%s failed\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
  }
}

/* Handshake on ssl (already bound to a connected fd), send "ping\n", read
 * the reply; prints "tls ok <protocol> <reply>". */
static inline void tls_ping(SSL *ssl) {
  must_ssl(SSL_connect(ssl) == 1, "SSL_connect");
  must_ssl(SSL_write(ssl, "ping\n", 5) == 5, "SSL_write");
  char reply[64];
  int n = SSL_read(ssl, reply, sizeof(reply) - 1);
  must_ssl(n > 0, "SSL_read");
  reply[n] = '\0';
  reply[strcspn(reply, "\r\n")] = '\0';
  printf("tls ok %s %s\n", SSL_get_version(ssl), reply);
}

#endif
