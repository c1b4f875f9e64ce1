/* Opens argv[1] loopback connections one after another (default 10000),
 * each accepted, written, read and closed at both ends, except every
 * argv[2]-th (default 1000), which stays open: a timeline of many bars. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int __attribute__((noinline)) open_connection(const struct sockaddr_in *server) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (const struct sockaddr *)server, sizeof(*server)) != 0) exit(99);
  return fd;
}

int main(int argc, char **argv) {
  long count = argc > 1 ? atol(argv[1]) : 10000;
  long keep_every = argc > 2 ? atol(argv[2]) : 1000;
  struct sockaddr_in server;
  socklen_t len = sizeof(server);
  memset(&server, 0, sizeof(server));
  server.sin_family = AF_INET;
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  if (bind(listener, (struct sockaddr *)&server, sizeof(server)) != 0 || listen(listener, 64) != 0) return 99;
  getsockname(listener, (struct sockaddr *)&server, &len);
  char buf[8];
  for (long i = 1; i <= count; i++) {
    int fd = open_connection(&server);
    int peer = accept(listener, NULL, NULL);
    write(fd, "x", 1);
    read(peer, buf, sizeof(buf));
    close(peer);
    if (i % keep_every != 0) close(fd);
  }
  close(listener);
  return 0;
}
