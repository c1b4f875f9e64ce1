/* A unix seqpacket listener made by a raw system call, which the shim never
 * sees made; a client connects and the accepted end is left open. The
 * accepted socket's family and type must be the kernel's, not a guess. */
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "common.h"

static LEAK_SITE int accept_on(int listener) {
  LEAK_RETURN(accept(listener, NULL, NULL)); /* LEAK: accept_on */
}

int main(void) {
  int listener = (int)syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET, 0);
  must(listener >= 0, "socket");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "connleak-raw-listener-%d", (int)getpid());
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr.sun_path + 1));
  must(bind(listener, (struct sockaddr *)&addr, len) == 0, "bind");
  must(listen(listener, 4) == 0, "listen");
  int client = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  must(connect(client, (struct sockaddr *)&addr, len) == 0, "connect");
  int accepted = accept_on(listener);
  must(accepted >= 0, "accept");
  printf("%d %d\n", client, accepted);
  return 0; /* the client and the accepted end stay open */
}
