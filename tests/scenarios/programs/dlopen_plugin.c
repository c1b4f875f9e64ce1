/* Loads leaky_plugin.so with dlopen() and lets it leak a connection.
 * Expected: one leaked-connection whose stack[0] is plugin_connect in
 * leaky_plugin.c. */
#include <dlfcn.h>

#include "common.h"

int main(int argc, char **argv) {
  (void)argc;
  void *plugin = dlopen(argv[2], RTLD_NOW);
  must(plugin != NULL, "dlopen");
  int (*plugin_connect)(const char *) = (int (*)(const char *))dlsym(plugin, "plugin_connect");
  must(plugin_connect != NULL, "dlsym");
  return plugin_connect(argv[1]) >= 0 ? 0 : 1;
}
