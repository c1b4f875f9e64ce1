/* close() inside a signal handler while other threads open and close
 * sockets. The main thread keeps one socket of its own for the whole run
 * and, for 0.3 s, prepares a socket and raises SIGUSR1, whose handler closes
 * the prepared socket; a signaller thread also sends SIGUSR1 to the main
 * thread at random moments (so the handler also interrupts the main thread
 * inside socket()/close()), and 4 worker threads churn socket()+close().
 * Everything is closed at the end. Expected: exit 0, no findings, no
 * deadlock. Prints how often the handler closed a socket. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "common.h"

static atomic_int prepared = -1;
static atomic_int handler_closes;
static atomic_int stop;
static pthread_t main_thread;

static void on_usr1(int sig) {
  (void)sig;
  int saved_errno = errno;
  int fd = atomic_exchange(&prepared, -1);
  if (fd >= 0 && close(fd) == 0) atomic_fetch_add(&handler_closes, 1);
  errno = saved_errno;
}

static void *churn(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0) close(fd);
  }
  return NULL;
}

static void *signaller(void *arg) {
  (void)arg;
  struct timespec pause = {0, 50 * 1000};
  while (!atomic_load(&stop)) {
    pthread_kill(main_thread, SIGUSR1);
    nanosleep(&pause, NULL);
  }
  return NULL;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_handler = on_usr1;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  must(sigaction(SIGUSR1, &action, NULL) == 0, "sigaction");
  main_thread = pthread_self();
  int mine = socket(AF_INET, SOCK_STREAM, 0);
  must(mine >= 0, "socket");

  pthread_t workers[4], sender;
  for (int i = 0; i < 4; i++) must(pthread_create(&workers[i], NULL, churn, NULL) == 0, "pthread_create");
  must(pthread_create(&sender, NULL, signaller, NULL) == 0, "pthread_create");

  long rounds = 0;
  double end = now() + 0.3;
  while (now() < end) {
    if (atomic_load(&prepared) < 0) {
      /* Only this thread stores a socket, and only over -1. */
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      must(fd >= 0, "socket");
      atomic_store(&prepared, fd);
    }
    int scratch = socket(AF_INET, SOCK_DGRAM, 0);
    if (scratch >= 0) close(scratch);
    raise(SIGUSR1);
    rounds++;
  }

  atomic_store(&stop, 1);
  pthread_join(sender, NULL);
  for (int i = 0; i < 4; i++) pthread_join(workers[i], NULL);
  int left = atomic_exchange(&prepared, -1);
  if (left >= 0) close(left);
  close(mine);
  printf("rounds %ld handler_closes %d\n", rounds, atomic_load(&handler_closes));
  return 0;
}
