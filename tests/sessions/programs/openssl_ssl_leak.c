/* An OpenSSL SSL that is never freed, nor its socket closed. open_tls()
 * connects to the test's server (port in argv[1]) and creates the SSL on
 * that fd; after a handshake and a ping the program frees only the SSL_CTX
 * (the SSL keeps its own reference to it) and exits.
 * Expected: one leaked-session, api openssl_ssl, at the SSL_new line in
 * open_tls, whose connections list the fd (peer 127.0.0.1:PORT); the
 * leaked-connection for that fd is held by that session.
 * Prints "ssl 0x... fd N" and "tls ok <version> pong". */
#include "tls_client.h"

LEAK_SITE static SSL *open_tls(SSL_CTX *ctx, const char *port) {
  int fd = connect_loopback(port);
  SSL *ssl = SSL_new(ctx); /* LEAK: open_tls */
  must_ssl(ssl != NULL, "SSL_new");
  must_ssl(SSL_set_fd(ssl, fd) == 1, "SSL_set_fd");
  printf("ssl %p fd %d\n", (void *)ssl, fd);
  KEEP_FRAME();
  return ssl;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 64;
  }
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  must_ssl(ctx != NULL, "SSL_CTX_new");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL *ssl = open_tls(ctx, argv[1]);
  tls_ping(ssl);
  SSL_CTX_free(ctx);
  fflush(stdout);
  return 0; /* ssl and its fd never freed or closed */
}
