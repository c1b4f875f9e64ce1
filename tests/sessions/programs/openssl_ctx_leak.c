/* An OpenSSL SSL_CTX that is never freed. make_ctx() creates it; one TLS
 * connection to the test's server (port in argv[1]) does a handshake and a
 * ping, then SSL_shutdown, SSL_free and close: only the SSL_CTX is left.
 *   (no mode)  Expected: one leaked-session, api openssl_ctx, at the
 *              SSL_CTX_new line in make_ctx; no leaked-connection.
 *   free-all   SSL_CTX_free as well. Expected: no findings.
 * Prints "ctx 0x...", "ssl 0x..." and "tls ok <version> pong". */
#include "tls_client.h"

LEAK_SITE static SSL_CTX *make_ctx(void) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method()); /* LEAK: make_ctx */
  must_ssl(ctx != NULL, "SSL_CTX_new");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  printf("ctx %p\n", (void *)ctx);
  KEEP_FRAME();
  return ctx;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PORT [free-all]\n", argv[0]);
    return 64;
  }
  int free_all = argc > 2 && strcmp(argv[2], "free-all") == 0;
  SSL_CTX *ctx = make_ctx();
  int fd = connect_loopback(argv[1]);
  SSL *ssl = SSL_new(ctx);
  must_ssl(ssl != NULL, "SSL_new");
  printf("ssl %p\n", (void *)ssl);
  must_ssl(SSL_set_fd(ssl, fd) == 1, "SSL_set_fd");
  tls_ping(ssl);
  SSL_shutdown(ssl);
  SSL_free(ssl);
  close(fd);
  if (free_all) SSL_CTX_free(ctx);
  fflush(stdout);
  return 0;
}
