/* The NSURLSession-style bug in a long-running client: every request makes
 * a libcurl easy handle of its own and never cleans it up, so each one keeps
 * its keep-alive connection open for as long as the process runs. Requests
 * argv[1] (the test's keep-alive HTTP server) every 100 ms until its stdin
 * closes, then exits. Prints "ready" after the first request. */
#include <curl/curl.h>
#include <poll.h>

#include "session_common.h"

static size_t discard(char *data, size_t size, size_t count, void *user) {
  (void)data;
  (void)user;
  return size * count;
}

LEAK_SITE static CURL *fetch_once(const char *url) {
  CURL *curl = curl_easy_init(); /* LEAK: fetch_once */
  must(curl != NULL, "curl_easy_init");
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  must(curl_easy_perform(curl) == CURLE_OK, "curl_easy_perform");
  KEEP_FRAME();
  return curl; /* never cleaned up */
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s URL\n", argv[0]);
    return 64;
  }
  struct pollfd in = {0, POLLIN, 0};
  for (long n = 0;; ++n) {
    fetch_once(argv[1]);
    if (n == 0) printf("ready\n"), fflush(stdout);
    if (poll(&in, 1, 100) > 0) {
      char buf[64];
      if (read(0, buf, sizeof(buf)) <= 0) break;
    }
  }
  return 0;
}
