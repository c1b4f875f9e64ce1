/* 16 threads each open and close 1,000 sockets and leak one. Expected: one
 * leaked-socket finding, count 16, at the marked line. */
#include <pthread.h>

#include "common.h"

LEAK_SITE static int leak_one(void) {
  LEAK_RETURN(socket(AF_INET, SOCK_STREAM, 0)); /* LEAK: leak_one */
}

static void *worker(void *arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) close(socket(AF_INET, SOCK_STREAM, 0));
  leak_one();
  return NULL;
}

int main(void) {
  pthread_t threads[16];
  for (int i = 0; i < 16; i++) pthread_create(&threads[i], NULL, worker, NULL);
  for (int i = 0; i < 16; i++) pthread_join(threads[i], NULL);
  return 0;
}
