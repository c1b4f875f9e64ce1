/* Linked with early_library.so, whose constructor leaks a UDP socket before
 * main(). Expected: one leaked-socket at early_socket. */
int main(void) { return 0; }
