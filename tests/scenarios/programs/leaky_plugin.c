/* A plugin loaded with dlopen() after the program started: its frames must
 * still symbolize. */
#include "common.h"

LEAK_SITE int plugin_connect(const char *port) {
  struct sockaddr_in server = server_address(port);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  must(connect(fd, (const struct sockaddr *)&server, sizeof(server)) == 0, "connect"); /* LEAK: plugin_connect */
  LEAK_RETURN(fd);
}
