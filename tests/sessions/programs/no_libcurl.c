/* A plain socket program, linked with no session library: opens and closes
 * a socket, then fails (exit 1) if libcurl, libssl, libcrypto, libpq,
 * libmariadb, libhiredis, libgnutls or the C++ runtime was loaded into it
 * anyway, as a shim that links against them would do.
 * Expected under connleak: exit 0, no findings. Prints "no session
 * libraries" when clean. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    perror("socket");
    return 99;
  }
  close(fd);
  FILE *maps = fopen("/proc/self/maps", "r");
  if (maps == NULL) {
    perror("/proc/self/maps");
    return 99;
  }
  char line[4096];
  int found = 0;
  while (fgets(line, sizeof(line), maps) != NULL) {
    /* Library file names only: this program's own name contains "libcurl". */
    static const char *const libraries[] = {"/libcurl", "/libssl",     "/libcrypto", "/libpq.",
                                            "/libmariadb", "/libhiredis", "/libgnutls", "/libstdc++"};
    int library = 0;
    for (size_t i = 0; i < sizeof(libraries) / sizeof(libraries[0]); ++i) library |= strstr(line, libraries[i]) != NULL;
    if (library) {
      fputs(line, stdout);
      found = 1;
    }
  }
  fclose(maps);
  if (found) return 1;
  printf("no session libraries\n");
  return 0;
}
