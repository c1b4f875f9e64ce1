/* libcurl easy handles against the test's keep-alive HTTP server, URL in
 * argv[1].
 *   (no mode)  fetch_user() creates a handle per request and never cleans
 *              it up: 5 requests leave 5 easy handles, each holding its
 *              cached keep-alive connection. Expected: leaked-session
 *              (api curl_easy, 5 instances, 1 transfer each) at the
 *              curl_easy_init line in fetch_user; 5 leaked-connections held
 *              by those handles; one session-churn warning, count 5.
 *   reuse      make_client() creates one handle; 5 requests on it; then
 *              curl_easy_cleanup. Expected: no error, no session-churn.
 * Prints "handle 0x..." for each handle created and "status 200" for each
 * response; exits 2 on any failed request. */
#include <curl/curl.h>

#include "session_common.h"

#define REQUESTS 5

static size_t discard(char *data, size_t size, size_t count, void *user) {
  (void)data;
  (void)user;
  return size * count;
}

static void get(CURL *curl, const char *url) {
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  CURLcode result = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (result != CURLE_OK || status != 200) {
    fprintf(stderr, "request failed: %s, status %ld\n", curl_easy_strerror(result), status);
    exit(2);
  }
  printf("status %ld\n", status);
}

LEAK_SITE static CURL *fetch_user(const char *url) {
  CURL *curl = curl_easy_init(); /* LEAK: fetch_user */
  must(curl != NULL, "curl_easy_init");
  printf("handle %p\n", (void *)curl);
  get(curl, url);
  KEEP_FRAME();
  return curl; /* never cleaned up */
}

LEAK_SITE static CURL *make_client(void) {
  CURL *curl = curl_easy_init(); /* LEAK: make_client */
  must(curl != NULL, "curl_easy_init");
  printf("handle %p\n", (void *)curl);
  KEEP_FRAME();
  return curl;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s URL [reuse]\n", argv[0]);
    return 64;
  }
  const char *url = argv[1];
  if (argc > 2 && strcmp(argv[2], "reuse") == 0) {
    CURL *client = make_client();
    for (int i = 0; i < REQUESTS; i++) get(client, url);
    curl_easy_cleanup(client);
  } else {
    for (int i = 0; i < REQUESTS; i++) fetch_user(url);
  }
  fflush(stdout);
  return 0;
}
