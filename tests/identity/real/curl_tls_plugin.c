/* A plugin that links libcurl and OpenSSL; plugin_host (which links
 * neither) dlopen()s it with RTLD_NOW | RTLD_LOCAL, so libcurl, libssl and
 * libcrypto live only in this plugin's local scope, as they do under an
 * interpreter's extension module.
 *
 * plugin_run(http_url, https_url, tls_port, ca):
 *   1. libcurl GET http_url, cleaned up
 *   2. libcurl GET https_url (CURLOPT_CAINFO ca, peer and host verified),
 *      cleaned up
 *   3. libcurl GET http_url + "-leak" on a handle made by make_leaked_easy()
 *      and never cleaned up: leaked-session (curl_easy) holding its
 *      keep-alive connection
 *   4. OpenSSL: an SSL_CTX from make_leaked_ctx() (never freed: leaked-session
 *      openssl_ctx), SSL_new + SSL_set_fd + SSL_connect to 127.0.0.1:tls_port
 *      with host name verification, an HTTP/1.0 GET over it, SSL_free, close
 *   5. the same SSL_CTX, the wrong host name: the handshake fails
 *      verification; SSL_free, close
 * Everything printed is the same in every run (no addresses, no ports).
 * Returns the number of failed steps. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define LEAK_SITE __attribute__((noinline, noclone))
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

struct body {
  char data[4096];
  size_t len;
};

static size_t on_body(char *data, size_t size, size_t count, void *user) {
  struct body *body = user;
  size_t n = size * count;
  size_t room = sizeof(body->data) - 1 - body->len;
  size_t take = n < room ? n : room;
  memcpy(body->data + body->len, data, take);
  body->len += take;
  body->data[body->len] = '\0';
  return n;
}

static CURL *leaked_easy;
static SSL_CTX *leaked_ctx;

LEAK_SITE static void make_leaked_easy(void) {
  leaked_easy = curl_easy_init(); /* LEAK: make_leaked_easy */
  KEEP_FRAME();
}

LEAK_SITE static void make_leaked_ctx(void) {
  leaked_ctx = SSL_CTX_new(TLS_client_method()); /* LEAK: make_leaked_ctx */
  KEEP_FRAME();
}

/* One GET on curl; prints "<label>: <curl result> status <code> verify
 * <result> body <body>". Returns 0 on a 200. */
static int curl_get(CURL *curl, const char *label, const char *url, const char *ca) {
  if (curl == NULL) {
    printf("%s: curl_easy_init returned NULL\n", label);
    return 1;
  }
  struct body body = {{0}, 0};
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  if (ca != NULL) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  }
  CURLcode result = curl_easy_perform(curl);
  long status = 0, verify = -1;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (ca != NULL) curl_easy_getinfo(curl, CURLINFO_SSL_VERIFYRESULT, &verify);
  printf("%s: %s status %ld verify %ld body %s", label, curl_easy_strerror(result), status, verify,
         body.len ? body.data : "(none)\n");
  return result == CURLE_OK && status == 200 ? 0 : 1;
}

static int connect_loopback(int port) {
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct timeval timeout = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void print_ssl_errors(const char *label) {
  unsigned long error;
  while ((error = ERR_get_error()) != 0) {
    const char *reason = ERR_reason_error_string(error);
    printf("%s: openssl error: %s\n", label, reason ? reason : "(no reason)");
  }
}

/* A handshake with host as the verified name; on success an HTTP/1.0 GET of
 * path. Returns 0 when the handshake's outcome is expect_ok. */
static int tls_get(SSL_CTX *ctx, int port, const char *host, const char *path, int expect_ok) {
  int fd = connect_loopback(port);
  if (fd < 0) {
    printf("%s: connect failed\n", host);
    return 1;
  }
  SSL *ssl = SSL_new(ctx);
  if (ssl == NULL) {
    printf("%s: SSL_new returned NULL\n", host);
    print_ssl_errors(host);
    close(fd);
    return 1;
  }
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  SSL_set1_host(ssl, host);
  int ok = SSL_connect(ssl) == 1;
  long verify = SSL_get_verify_result(ssl);
  printf("%s: handshake %s verify %ld (%s)\n", host, ok ? "ok" : "failed", verify,
         X509_verify_cert_error_string(verify));
  if (!ok) {
    print_ssl_errors(host);
  } else {
    X509 *peer = SSL_get1_peer_certificate(ssl);
    char subject[256] = "(none)", issuer[256] = "(none)";
    if (peer != NULL) {
      X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof(subject));
      X509_NAME_oneline(X509_get_issuer_name(peer), issuer, sizeof(issuer));
      X509_free(peer);
    }
    printf("%s: %s %s subject %s issuer %s\n", host, SSL_get_version(ssl),
           SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)), subject, issuer);
    char request[256];
    snprintf(request, sizeof(request), "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
    SSL_write(ssl, request, (int)strlen(request));
    char response[4096];
    size_t len = 0;
    int n;
    while (len < sizeof(response) - 1 && (n = SSL_read(ssl, response + len, (int)(sizeof(response) - 1 - len))) > 0)
      len += (size_t)n;
    response[len] = '\0';
    char *body = strstr(response, "\r\n\r\n");
    char *eol = strstr(response, "\r\n");
    if (eol) *eol = '\0';
    printf("%s: status line %s body %s", host, response, body ? body + 4 : "(none)\n");
    SSL_shutdown(ssl);
  }
  SSL_free(ssl);
  close(fd);
  return ok == expect_ok ? 0 : 1;
}

int plugin_run(const char *http_url, const char *https_url, const char *tls_port, const char *ca) {
  int failed = 0;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  printf("plugin: %s\n", curl_version_info(CURLVERSION_NOW)->ssl_version ? "libcurl with TLS" : "libcurl");

  CURL *curl = curl_easy_init();
  failed += curl_get(curl, "curl http", http_url, NULL);
  if (curl) curl_easy_cleanup(curl);

  curl = curl_easy_init();
  failed += curl_get(curl, "curl https", https_url, ca);
  if (curl) curl_easy_cleanup(curl);

  char leak_url[512];
  snprintf(leak_url, sizeof(leak_url), "%s-leak", http_url);
  make_leaked_easy();
  failed += curl_get(leaked_easy, "curl leaked handle", leak_url, NULL);

  make_leaked_ctx();
  if (leaked_ctx == NULL) {
    printf("SSL_CTX_new returned NULL\n");
    print_ssl_errors("SSL_CTX_new");
    return failed + 1;
  }
  printf("load CA: %d\n", SSL_CTX_load_verify_locations(leaked_ctx, ca, NULL));
  SSL_CTX_set_verify(leaked_ctx, SSL_VERIFY_PEER, NULL);
  failed += tls_get(leaked_ctx, atoi(tls_port), "localhost", "/plugin-openssl", 1);
  failed += tls_get(leaked_ctx, atoi(tls_port), "wrong.invalid", "/never", 0);
  fflush(stdout);
  return failed;
}
