/* Loads curl_tls_plugin.so with dlopen(RTLD_NOW | RTLD_LOCAL) and calls its
 * plugin_run(); links neither libcurl nor OpenSSL itself.
 *   plugin_host PLUGIN HTTP_URL HTTPS_URL TLS_PORT CA [ROUNDS]
 * With ROUNDS > 1 the plugin is dlclose()d after each round and loaded
 * again (libcurl and libssl may be unloaded and mapped anew in between).
 * Exits with the number of failed steps (0: all as expected). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef int (*plugin_run_fn)(const char *, const char *, const char *, const char *);

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s PLUGIN HTTP_URL HTTPS_URL TLS_PORT CA [ROUNDS]\n", argv[0]);
    return 64;
  }
  int rounds = argc > 6 ? atoi(argv[6]) : 1;
  int failed = 0;
  for (int round = 1; round <= rounds; round++) {
    void *plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (plugin == NULL) {
      printf("dlopen failed: %s\n", dlerror());
      return 70;
    }
    plugin_run_fn run = (plugin_run_fn)dlsym(plugin, "plugin_run");
    if (run == NULL) {
      printf("dlsym failed: %s\n", dlerror());
      return 71;
    }
    int result = run(argv[2], argv[3], argv[4], argv[5]);
    printf("round %d: plugin_run returned %d\n", round, result);
    fflush(stdout);
    failed += result;
    if (rounds > 1 && dlclose(plugin) != 0) {
      printf("dlclose failed: %s\n", dlerror());
      return 72;
    }
  }
  return failed > 63 ? 63 : failed;
}
