#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "shim_log.h"

namespace connleak::shim {

Config read_config() {
  Config config;
  if (const char* dir = getenv("CONNLEAK_OUTPUT_DIR"); dir && *dir) {
    if (strlen(dir) < sizeof(config.output_dir)) {
      strcpy(config.output_dir, dir);
    } else {
      warn("CONNLEAK_OUTPUT_DIR is too long; writing traces to the current directory");
    }
  }
  if (const char* depth = getenv("CONNLEAK_STACK_DEPTH"); depth && *depth) {
    char* end = nullptr;
    long value = strtol(depth, &end, 10);
    if (*end == '\0' && value >= 0 && value <= kMaxStackDepth) {
      config.stack_depth = int(value);
    } else {
      warn("CONNLEAK_STACK_DEPTH=%s is not a number from 0 to 128; using 32", depth);
    }
  }
  if (const char* off = getenv("CONNLEAK_DISABLE"); off && strcmp(off, "1") == 0) {
    config.disabled = true;
  }
  return config;
}

}  // namespace connleak::shim
