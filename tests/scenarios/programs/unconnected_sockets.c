/* A listening socket and a never-connected UDP socket, both left open.
 * Expected: two leaked-socket findings, no leaked-connection. */
#include "common.h"

LEAK_SITE static int make_listener(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0); /* LEAK: make_listener */
  struct sockaddr_in addr = server_address("0");
  must(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 && listen(fd, 4) == 0, "listen");
  LEAK_RETURN(fd);
}

LEAK_SITE static int make_udp(void) {
  LEAK_RETURN(socket(AF_INET, SOCK_DGRAM, 0)); /* LEAK: make_udp */
}

int main(void) {
  make_listener();
  make_udp();
  return 0;
}
