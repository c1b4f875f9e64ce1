/* A client that asks a (built-in) server for its status three times and
 * closes a connection only when the answer is bad, so all three stay open
 * until the process exits. Run it under connleak:
 *
 *   build/bin/connleak run -- build/bin/leaky_client
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int start_server(struct sockaddr_in *addr) {
  socklen_t len = sizeof(*addr);
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  memset(addr, 0, sizeof(*addr));
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)addr, sizeof(*addr)) != 0 || listen(listener, 8) != 0) {
    perror("server");
    return -1;
  }
  getsockname(listener, (struct sockaddr *)addr, &len);
  return listener;
}

/* Serves one pending request: the kernel already completed the handshake. */
static void serve_one(int listener) {
  int conn = accept(listener, NULL, NULL);
  char request[64];
  if (read(conn, request, sizeof(request)) > 0) write(conn, "OK\n", 3);
  close(conn);
}

/* The bug: the connection is only closed when the status is bad. */
static int fetch_status(const struct sockaddr_in *server, int listener) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (const struct sockaddr *)server, sizeof(*server)) != 0) return -1;
  write(fd, "STATUS\n", 7);
  serve_one(listener);
  char reply[16] = {0};
  read(fd, reply, sizeof(reply) - 1);
  int ok = strncmp(reply, "OK", 2) == 0;
  if (!ok) close(fd);
  return ok;
}

int main(void) {
  struct sockaddr_in server;
  int listener = start_server(&server);
  if (listener < 0) return 1;
  for (int i = 0; i < 3; i++) {
    printf("status: %s\n", fetch_status(&server, listener) ? "ok" : "bad");
    usleep(40 * 1000); /* polls, as a health checker would */
  }
  close(listener);
  usleep(300 * 1000); /* the rest of the program's work */
  return 0;
}
