/* A library whose constructor opens a socket before main() and before the
 * shim's own constructor may have run. */
#include "common.h"

LEAK_SITE static int early_socket(void) {
  LEAK_RETURN(socket(AF_INET, SOCK_DGRAM, 0)); /* LEAK: early_socket */
}

__attribute__((constructor)) static void open_early(void) { early_socket(); }
