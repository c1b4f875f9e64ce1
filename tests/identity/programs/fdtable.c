// The fd table as the program sees it: /proc/self/fd listings, fd numbers,
// how many fds fit under RLIMIT_NOFILE, numbers near the top of the limit,
// and programs that close every fd they have. The shim must keep no fd the
// program can see, count or close.
#include "identity_common.h"

#include <sys/select.h>
#include <sys/un.h>

static void listing_at_start(int argc, char** argv) { list_fds("at start of main"); }

static void listing_after_sockets(int argc, char** argv) {
  list_fds("at start");
  int port;
  int l = make_listener(&port);
  int c = connect_to(port);
  int a = accept(l, NULL, NULL);
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  int sv[2], p[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  pipe(p);
  int six = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  out("fds: listener %d client %d accepted %d udp %d pair %d %d pipe %d %d inet6 %d\n", l, c, a, u, sv[0], sv[1],
      p[0], p[1], six);
  list_fds("after opening");
  close(c);
  close(sv[0]);
  close(p[1]);
  list_fds("after closing some");
  int again = socket(AF_INET, SOCK_STREAM, 0);
  out("next socket fd = %d\n", again);
  list_fds("at the end");
}

// How many sockets can be opened until EMFILE, then the listing.
static int last_filled = -1;

static int fill_until_emfile(const char* label) {
  int first = -1, last = -1, count = 0, err = 0;
  for (int i = 0; i < 200000; ++i) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
      err = errno;
      break;
    }
    if (first < 0) first = s;
    last = s;
    ++count;
  }
  out("%s: %d sockets until %s, first fd %d, last fd %d\n", label, count, errname(err), first, last);
  last_filled = last;
  return first;
}

static void emfile_setrlimit(int argc, char** argv) {
  SHOW(set_soft_nofile(32));
  out("soft limit %ld\n", (long)soft_nofile());
  int first = fill_until_emfile("limit 32");
  SHOW(close(last_filled));  // room for the listing's own fd
  list_fds("at EMFILE");
  SHOW(socket(AF_INET, SOCK_STREAM, 0));
  SHOW(dup(first));
  SHOW(fcntl(first, F_DUPFD, 0));
  int p[2];
  SHOW(pipe(p));
  SHOW(socketpair(AF_UNIX, SOCK_STREAM, 0, p));
  SHOW(close(first));
  SHOW(socket(AF_INET, SOCK_STREAM, 0));
  SHOW(close_range(first, ~0U, 0));
  SHOW(set_soft_nofile(16));
  fill_until_emfile("limit 16");
  SHOW(close(last_filled));
  list_fds("at EMFILE 16");
}

// Run under a limit set before exec (`ulimit -n 32`): the limit, the first
// socket's fd, the count until EMFILE and the listing.
static void emfile_count(int argc, char** argv) {
  out("soft limit %ld\n", (long)soft_nofile());
  int s = socket(AF_INET, SOCK_STREAM, 0);
  out("first socket fd = %d\n", s);
  close(s);
  fill_until_emfile("until EMFILE");
  SHOW(close(last_filled));
  list_fds("at EMFILE");
}

static void first_socket(int argc, char** argv) {
  out("soft limit %ld\n", (long)soft_nofile());
  list_fds("at start");
  int s = socket(AF_INET, SOCK_STREAM, 0);
  out("first socket fd = %d\n", s);
  int port;
  int l = make_listener(&port);
  int c = connect_to(port);
  out("listener %d client %d\n", l, c);
  list_fds("after");
}

static void accept_socketpair_at_emfile(int argc, char** argv) {
  int port;
  int l = make_listener(&port);
  int c = connect_to(port);
  struct pollfd p = {l, POLLIN, 0};
  poll(&p, 1, 5000);
  SHOW(set_soft_nofile(20));
  int first = fill_until_emfile("limit 20");
  SHOW(accept(l, NULL, NULL));
  SHOW(accept4(l, NULL, NULL, SOCK_CLOEXEC));
  SHOW(close(first));
  int sv[2] = {-1, -1};
  SHOW(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  out("pair %d %d\n", sv[0], sv[1]);
  SHOW(accept(l, NULL, NULL));
  SHOW(socket(AF_INET, SOCK_STREAM, 0));
  SHOW(close(first + 1));
  SHOW(close(first + 2));
  SHOW(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  out("pair %d %d\n", sv[0], sv[1]);
  close(c);
  list_fds_below("at the end", 100);
}

// F_DUPFD and dup2 at the top of a limit of 64.
static void dupfd_top_of_limit(int argc, char** argv) {
  SHOW(set_soft_nofile(64));
  int s = socket(AF_INET, SOCK_STREAM, 0);
  SHOW(fcntl(s, F_DUPFD, 62));
  SHOW(dup2(s, 63));
  SHOW(dup2(s, 64));
  SHOW(dup3(s, 64, O_CLOEXEC));
  SHOW(fcntl(s, F_DUPFD, 62));
  SHOW(fcntl(s, F_DUPFD, 63));
  SHOW(fcntl(s, F_DUPFD, 64));
  SHOW(fcntl(s, F_DUPFD_CLOEXEC, 61));
  SHOW(fcntl(s, F_DUPFD_CLOEXEC, 61));
  SHOW(fcntl(s, F_DUPFD, 60));
  SHOW(dup2(s, 62));
  SHOW(close(63));
  SHOW(fcntl(s, F_DUPFD, 40));
  list_fds_below("at the top", 100);
}

static void dupfd_4030(int argc, char** argv) {
  set_soft_nofile(8192);
  out("limit at least 4096: %d\n", soft_nofile() >= 4096);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  for (int i = 0; i < 5; ++i) SHOW(fcntl(s, F_DUPFD, 4030));
  for (int i = 0; i < 3; ++i) SHOW(fcntl(s, F_DUPFD_CLOEXEC, 4090));
  SHOW(dup2(s, 4032));
  SHOW(dup2(s, 4033));
  SHOW(dup3(s, 4034, O_CLOEXEC));
  SHOW(fcntl(s, F_DUPFD, 4030));
  list_fds("after");
}

static void close_every_fd(int argc, char** argv) {
  int ok = 0, ebadf = 0, other = 0;
  for (int fd = 3; fd <= 65535; ++fd) {
    if (close(fd) == 0)
      ++ok;
    else if (errno == EBADF)
      ++ebadf;
    else
      ++other;
  }
  out("close(3..65535): %d returned 0, %d EBADF, %d other\n", ok, ebadf, other);
  list_fds("after closing everything");
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int port;
  int l = make_listener(&port);
  int c = connect_to(port);
  out("sockets after: %d %d %d\n", s, l, c);
  ok = ebadf = other = 0;
  for (int fd = 0; fd <= 65535; ++fd) {
    if (fd <= 2) continue;
    if (fcntl(fd, F_GETFD) >= 0) ++ok;
  }
  out("open fds >= 3: %d\n", ok);
}

// Closes every fd but 0-2, then opens sockets and leaves them open (leaks
// the report must still show).
static void after_close_all(const char* how) {
  list_fds(how);
  int port;
  int l = make_listener(&port);
  int c = connect_to(port);
  int a = accept(l, NULL, NULL);
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  out("after %s: listener %d client %d accepted %d udp %d\n", how, l, c, a, u);
  list_fds("with sockets");
  int p[2];
  pipe(p);
  out("pipe %d %d\n", p[0], p[1]);
}

static void close_range_all(int argc, char** argv) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  out("before: socket %d\n", s);
  SHOW(close_range(3, ~0U, 0));
  after_close_all("close_range(3, ~0U, 0)");
}

static void closefrom_all(int argc, char** argv) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  out("before: socket %d\n", s);
  closefrom(3);
  after_close_all("closefrom(3)");
}

// dup2 onto every number below the limit: the program owns all of them.
static void dup2_fill_table(int argc, char** argv) {
  set_soft_nofile(4096);
  rlim_t limit = soft_nofile();
  out("limit 4096: %d\n", limit == 4096);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int ok = 0, failed = 0;
  for (int fd = 3; fd < (int)limit; ++fd) {
    if (fd == s) continue;
    if (dup2(s, fd) == fd)
      ++ok;
    else
      ++failed;
  }
  out("dup2 onto 3..limit-1: %d ok, %d failed\n", ok, failed);
  SHOW(socket(AF_INET, SOCK_STREAM, 0));
  SHOW(dup(s));
  SHOW(fcntl(s, F_DUPFD, 100));
  int p[2];
  SHOW(pipe(p));
  SHOW(close((int)limit - 1));
  count_fds("full table");
  SHOW(fcntl(s, F_DUPFD, 0));
  SHOW(close_range(4, ~0U, 0));
  count_fds("after close_range");
  SHOW(socket(AF_INET, SOCK_STREAM, 0));
}

// Under `ulimit -n 1024` (a common default): every socket fits in an fd_set.
static void fill_to_fd_setsize(int argc, char** argv) {
  out("soft limit %ld, FD_SETSIZE %d\n", (long)soft_nofile(), FD_SETSIZE);
  int count = 0, below = 0, last = -1, err = 0;
  for (int i = 0; i < 100000; ++i) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
      err = errno;
      break;
    }
    ++count;
    below += s < FD_SETSIZE;
    last = s;
  }
  out("%d sockets until %s, %d below FD_SETSIZE, last fd %d\n", count, errname(err), below, last);
  SHOW(close(last));
  count_fds("full");
}

static void select_fd_setsize(int argc, char** argv) {
  set_soft_nofile(2048);
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  SHOW(dup2(sv[0], FD_SETSIZE - 1));
  SHOW(dup2(sv[1], FD_SETSIZE - 2));
  SHOW(write(FD_SETSIZE - 2, "x", 1));
  fd_set r;
  FD_ZERO(&r);
  FD_SET(FD_SETSIZE - 1, &r);
  struct timeval zero = {0, 0};
  SHOW(select(FD_SETSIZE, &r, NULL, NULL, &zero));
  out("ready %d\n", FD_ISSET(FD_SETSIZE - 1, &r));
  fd_set w;
  FD_ZERO(&w);
  FD_SET(FD_SETSIZE - 1, &w);
  FD_SET(FD_SETSIZE - 2, &w);
  FD_SET(sv[0], &w);
  SHOW(select(FD_SETSIZE, NULL, &w, NULL, &zero));
  SHOW(close(FD_SETSIZE - 1));
  FD_ZERO(&r);
  FD_SET(FD_SETSIZE - 1, &r);
  SHOW(select(FD_SETSIZE, &r, NULL, NULL, &zero));
  list_fds_below("fds", FD_SETSIZE + 64);
}

static void getdtablesize_sysconf(int argc, char** argv) {
  out("getdtablesize() = %d\n", getdtablesize());
  out("sysconf(_SC_OPEN_MAX) = %ld\n", sysconf(_SC_OPEN_MAX));
  struct rlimit r;
  getrlimit(RLIMIT_NOFILE, &r);
  out("soft %ld\n", (long)r.rlim_cur);
  SHOW(set_soft_nofile(48));
  out("getdtablesize() = %d\n", getdtablesize());
  out("sysconf(_SC_OPEN_MAX) = %ld\n", sysconf(_SC_OPEN_MAX));
}

static void opendir_proc_fd_loop(int argc, char** argv) {
  for (int i = 0; i < 20; ++i) {
    DIR* d = opendir("/proc/self/fd");
    int n = 0, own = dirfd(d);
    struct dirent* e;
    int sockets = 0;
    while ((e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.') continue;
      ++n;
      int fd = atoi(e->d_name);
      if (fd == own) continue;
      char kind[512];
      fd_kind(fd, kind, sizeof(kind));
      sockets += strcmp(kind, "socket") == 0;
      // A socket opened while the directory is read.
      if (n == 2) socket(i % 2 ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
    }
    out("round %d: dir fd %d, %d entries, %d sockets\n", i, own, n, sockets);
    closedir(d);
  }
}

static void dup2_onto_stdio(int argc, char** argv) {
  int saved_out = dup(1);
  int port;
  int l = make_listener(&port);
  int c = connect_to(port);
  int a = accept(l, NULL, NULL);
  SHOW(dup2(c, 0));
  SHOW(dup2(c, 2));
  list_fds_below("0 and 2 are a socket", 100);
  SHOW(write(2, "to the peer\n", 12));
  char buf[32] = {0};
  struct pollfd p = {a, POLLIN, 0};
  poll(&p, 1, 5000);
  SHOW(read(a, buf, sizeof(buf) - 1));
  out("peer got: %s", buf);
  SHOW(write(a, "back", 4));
  memset(buf, 0, sizeof(buf));
  SHOW(read(0, buf, 4));
  out("stdin got: %s\n", buf);
  SHOW(close(0));
  SHOW(close(2));
  SHOW(socket(AF_INET, SOCK_STREAM, 0));
  SHOW(socket(AF_INET, SOCK_STREAM, 0));
  list_fds_below("0 and 2 reused", 100);
  SHOW(dup2(c, 1));
  SHOW(dup2(saved_out, 1));
  SHOW(close(saved_out));
  list_fds_below("stdout back", 100);
}

static void fd_reuse_order(int argc, char** argv) {
  int a = socket(AF_INET, SOCK_STREAM, 0);
  int b = socket(AF_INET, SOCK_DGRAM, 0);
  int p[2];
  pipe(p);
  int c = socket(AF_UNIX, SOCK_STREAM, 0);
  out("a %d b %d pipe %d %d c %d\n", a, b, p[0], p[1], c);
  close(b);
  close(p[0]);
  int d = socket(AF_INET, SOCK_STREAM, 0);
  int e = open("/dev/null", O_RDONLY);
  int f = socket(AF_INET, SOCK_STREAM, 0);
  out("d %d e %d f %d\n", d, e, f);
  close(a);
  close(d);
  close(e);
  int sv[2];
  socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
  int g = dup(c);
  out("pair %d %d dup %d\n", sv[0], sv[1], g);
  FILE* stream = fdopen(socket(AF_INET, SOCK_STREAM, 0), "r+");
  out("fdopen fd %d\n", fileno(stream));
  fclose(stream);
  int h = socket(AF_INET, SOCK_STREAM, 0);
  out("after fclose: %d\n", h);
  for (int i = 0; i < 100; ++i) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s != h + 1) out("round %d: fd %d\n", i, s);
    close(s);
  }
  list_fds_below("at the end", 100);
}

static void unix_socket_bind_path(int argc, char** argv) {
  char dir[] = "/tmp/connleak-identity-XXXXXX";
  if (!mkdtemp(dir) || chdir(dir) != 0) {
    out("no temp dir\n");
    return;
  }
  struct sockaddr_un a;
  memset(&a, 0, sizeof(a));
  a.sun_family = AF_UNIX;
  strcpy(a.sun_path, "sock");
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  SHOW(bind(l, (struct sockaddr*)&a, sizeof(a)));
  SHOW(listen(l, 5));
  int again = socket(AF_UNIX, SOCK_STREAM, 0);
  SHOW(bind(again, (struct sockaddr*)&a, sizeof(a)));
  int c = socket(AF_UNIX, SOCK_STREAM, 0);
  SHOW(connect(c, (struct sockaddr*)&a, sizeof(a)));
  struct sockaddr_un peer;
  socklen_t len = sizeof(peer);
  int s;
  SHOW_AS(s, accept(l, (struct sockaddr*)&peer, &len));
  out("peer address length %u\n", len);
  len = sizeof(peer);
  getsockname(l, (struct sockaddr*)&peer, &len);
  out("listener name \"%s\" length %u\n", peer.sun_path, len);
  SHOW(write(c, "hi", 2));
  char buf[4] = {0};
  SHOW(read(s, buf, 2));
  struct sockaddr_un missing = a;
  strcpy(missing.sun_path, "nodir/sock");
  SHOW(bind(again, (struct sockaddr*)&missing, sizeof(missing)));
  strcpy(missing.sun_path, "absent");
  int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
  SHOW(connect(c2, (struct sockaddr*)&missing, sizeof(missing)));
  // An abstract name.
  struct sockaddr_un abstract;
  memset(&abstract, 0, sizeof(abstract));
  abstract.sun_family = AF_UNIX;
  snprintf(abstract.sun_path + 1, sizeof(abstract.sun_path) - 1, "connleak-identity-%d", (int)getpid());
  socklen_t alen = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(abstract.sun_path + 1);
  int ab = socket(AF_UNIX, SOCK_DGRAM, 0);
  SHOW(bind(ab, (struct sockaddr*)&abstract, alen));
  int ab2 = socket(AF_UNIX, SOCK_DGRAM, 0);
  SHOW(sendto(ab2, "dgram", 5, 0, (struct sockaddr*)&abstract, alen));
  char dbuf[8] = {0};
  SHOW(recv(ab, dbuf, sizeof(dbuf), 0));
  SHOW(unlink("sock"));
  SHOW(chdir("/"));
  SHOW(rmdir(dir));
  list_fds_below("unix sockets", 100);
}

static const struct identity_case cases[] = {
    {"listing_at_start", listing_at_start},
    {"listing_after_sockets", listing_after_sockets},
    {"emfile_setrlimit", emfile_setrlimit},
    {"emfile_count", emfile_count},
    {"first_socket", first_socket},
    {"accept_socketpair_at_emfile", accept_socketpair_at_emfile},
    {"dupfd_top_of_limit", dupfd_top_of_limit},
    {"dupfd_4030", dupfd_4030},
    {"close_every_fd", close_every_fd},
    {"close_range_all", close_range_all},
    {"closefrom_all", closefrom_all},
    {"dup2_fill_table", dup2_fill_table},
    {"fill_to_fd_setsize", fill_to_fd_setsize},
    {"select_fd_setsize", select_fd_setsize},
    {"getdtablesize_sysconf", getdtablesize_sysconf},
    {"opendir_proc_fd_loop", opendir_proc_fd_loop},
    {"dup2_onto_stdio", dup2_onto_stdio},
    {"fd_reuse_order", fd_reuse_order},
    {"unix_socket_bind_path", unix_socket_bind_path},
    {NULL, NULL},
};

int main(int argc, char** argv) { return run_case(cases, argc, argv); }
