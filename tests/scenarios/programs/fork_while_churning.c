/* 8 threads create, dup and close sockets (each its own family and type,
 * from its own function) while the main thread forks children. Each child
 * prints "forked PID", then the sockets the kernel says it holds ("child PID
 * FD DOMAIN TYPE INODE" lines), then waits, holding them, until the parent has closed all
 * of its own: every child ends holding the last reference to what it
 * inherited. argv[1]: how many children. */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common.h"

#define HELD 4
static atomic_int stop;

struct kind {
  int domain, type, protocol;
};

/* One ring of sockets per thread: a new one (and a dup of it) in, the
 * oldest out. */
static void churn(struct kind k, int (*make)(struct kind)) {
  int ring[HELD][2];
  for (int i = 0; i < HELD; i++) ring[i][0] = ring[i][1] = -1;
  for (unsigned n = 0; !atomic_load(&stop); n++) {
    int *slot = ring[n % HELD];
    if (slot[0] >= 0) close(slot[0]);
    if (slot[1] >= 0) close(slot[1]);
    slot[0] = make(k);
    slot[1] = slot[0] >= 0 && n % 2 ? dup(slot[0]) : -1;
  }
  for (int i = 0; i < HELD; i++) {
    if (ring[i][0] >= 0) close(ring[i][0]);
    if (ring[i][1] >= 0) close(ring[i][1]);
  }
}

/* make_NAME is the stack top of every socket its thread makes. */
#define CHURNER(name, D, T, P)                                       \
  static LEAK_SITE int make_##name(struct kind k) {                  \
    LEAK_RETURN(socket(k.domain, k.type, k.protocol));               \
  }                                                                  \
  static void *churn_##name(void *unused) {                          \
    (void)unused;                                                    \
    churn((struct kind){D, T, P}, make_##name);                      \
    return NULL;                                                     \
  }

CHURNER(inet_stream, AF_INET, SOCK_STREAM, 0)
CHURNER(inet_dgram, AF_INET, SOCK_DGRAM, 0)
CHURNER(inet6_stream, AF_INET6, SOCK_STREAM, 0)
CHURNER(inet6_dgram, AF_INET6, SOCK_DGRAM, 0)
CHURNER(unix_stream, AF_UNIX, SOCK_STREAM, 0)
CHURNER(unix_dgram, AF_UNIX, SOCK_DGRAM, 0)
CHURNER(unix_seqpacket, AF_UNIX, SOCK_SEQPACKET, 0)
CHURNER(netlink_dgram, AF_NETLINK, SOCK_DGRAM, 0)

static void *(*const churners[])(void *) = {
    churn_inet_stream, churn_inet_dgram,  churn_inet6_stream,   churn_inet6_dgram,
    churn_unix_stream, churn_unix_dgram,  churn_unix_seqpacket, churn_netlink_dgram,
};
#define THREADS (sizeof(churners) / sizeof(churners[0]))

/* The sockets the kernel says this process holds; with `use`, each gets a
 * dup: a child that never touches what it inherited only holds its
 * parent's sockets, and leaks none of them. */
static size_t list_own_sockets(char *out, size_t size, int use) {
  size_t used = 0;
  DIR *dir = opendir("/proc/self/fd");
  must(dir != NULL, "opendir");
  int fds[1024], count = 0;
  for (struct dirent *e; (e = readdir(dir));) {
    int fd = atoi(e->d_name);
    struct stat st;
    if (e->d_name[0] == '.' || fd == dirfd(dir) || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    if (count < (int)(sizeof(fds) / sizeof(fds[0]))) fds[count++] = fd;
    int domain = 0, type = 0;
    socklen_t len = sizeof(int);
    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
    len = sizeof(int);
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
    used += (size_t)snprintf(out + used, size - used, "child %d %d %d %d %lu\n", (int)getpid(), fd, domain, type,
                             (unsigned long)st.st_ino);
  }
  closedir(dir);
  for (int i = 0; use && i < count; i++) must(dup(fds[i]) >= 0, "dup");
  return used;
}

/* In the child: what it holds, in one write, after using each socket. */
static void print_and_use_own_sockets(void) {
  static char out[65536];
  list_own_sockets(out, sizeof(out), 1);
  size_t used = (size_t)snprintf(out, sizeof(out), "forked %d\n", (int)getpid());
  used += list_own_sockets(out + used, sizeof(out) - used, 0);
  must(write(1, out, used) == (ssize_t)used, "write");
}

int main(int argc, char **argv) {
  int children = argc > 1 ? atoi(argv[1]) : 100;
  int release[2];
  must(pipe(release) == 0, "pipe");
  pthread_t threads[THREADS];
  for (size_t i = 0; i < THREADS; i++) must(pthread_create(&threads[i], NULL, churners[i], NULL) == 0, "thread");
  pid_t *pids = calloc((size_t)children, sizeof(pid_t));
  for (int i = 0; i < children; i++) {
    usleep(2000);
    pids[i] = fork();
    must(pids[i] >= 0, "fork");
    if (pids[i] == 0) {
      close(release[1]);
      print_and_use_own_sockets();
      char byte;
      while (read(release[0], &byte, 1) > 0) {
      }
      _exit(0);
    }
  }
  atomic_store(&stop, 1);
  for (size_t i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
  close(release[1]); /* every child may go now */
  for (int i = 0; i < children; i++) waitpid(pids[i], NULL, 0);
  close(release[0]);
  return 0;
}
