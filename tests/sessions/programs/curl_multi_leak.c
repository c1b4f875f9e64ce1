/* A libcurl multi handle that is never cleaned up. make_multi() creates it;
 * one easy handle runs a GET (URL in argv[1]) to completion through
 * curl_multi_perform/curl_multi_poll, curl_multi_info_read reports it done,
 * and the easy handle is removed and cleaned up. curl_multi_cleanup is never
 * called, so the multi keeps the cached keep-alive connection.
 * Expected: one leaked-session, api curl_multi, at the curl_multi_init line
 * in make_multi; no leaked curl_easy session; any leaked-connection is held
 * by the multi. Prints "multi 0x...", "easy 0x..." and "done 0 status 200";
 * exits 2 if the transfer fails. */
#include <curl/curl.h>

#include "session_common.h"

static size_t discard(char *data, size_t size, size_t count, void *user) {
  (void)data;
  (void)user;
  return size * count;
}

LEAK_SITE static CURLM *make_multi(void) {
  CURLM *multi = curl_multi_init(); /* LEAK: make_multi */
  must(multi != NULL, "curl_multi_init");
  printf("multi %p\n", (void *)multi);
  KEEP_FRAME();
  return multi;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s URL\n", argv[0]);
    return 64;
  }
  CURLM *multi = make_multi();
  CURL *easy = curl_easy_init();
  must(easy != NULL, "curl_easy_init");
  printf("easy %p\n", (void *)easy);
  curl_easy_setopt(easy, CURLOPT_URL, argv[1]);
  curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(easy, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
  curl_multi_add_handle(multi, easy);

  int running = 1;
  int done = 0;
  CURLcode result = CURLE_OK;
  while (!done) {
    if (curl_multi_perform(multi, &running) != CURLM_OK) break;
    CURLMsg *msg;
    int queued;
    while ((msg = curl_multi_info_read(multi, &queued)) != NULL) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) {
        done = 1;
        result = msg->data.result;
      }
    }
    if (!done && running) curl_multi_poll(multi, NULL, 0, 1000, NULL);
    if (!done && !running) break;
  }
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  if (!done || result != CURLE_OK || status != 200) {
    fprintf(stderr, "transfer failed: done %d, %s, status %ld\n", done, curl_easy_strerror(result), status);
    return 2;
  }
  printf("done %d status %ld\n", (int)result, status);
  curl_multi_remove_handle(multi, easy);
  curl_easy_cleanup(easy);
  fflush(stdout);
  return 0; /* multi never cleaned up */
}
