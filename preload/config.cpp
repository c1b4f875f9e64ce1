#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "shim_log.h"

namespace connleak::shim {

bool parse_size(const char* text, uint64_t* bytes) {
  char* end = nullptr;
  unsigned long long value = strtoull(text, &end, 10);
  if (end == text || text[0] == '-') return false;
  int shift = 0;
  switch (*end) {
    case 'K': case 'k': shift = 10; ++end; break;
    case 'M': case 'm': shift = 20; ++end; break;
    case 'G': case 'g': shift = 30; ++end; break;
    case 'T': case 't': shift = 40; ++end; break;
    default: break;
  }
  if (*end == 'i' && shift) ++end;  // "32MiB"
  if (*end == 'B' || (*end == 'b' && shift)) ++end;
  if (*end != '\0' || value > (~0ull >> shift)) return false;
  *bytes = uint64_t(value) << shift;
  return true;
}

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
  if (const char* size = getenv("CONNLEAK_MAX_TRACE_SIZE"); size && *size) {
    uint64_t bytes = 0;
    if (!parse_size(size, &bytes)) {
      warn("CONNLEAK_MAX_TRACE_SIZE=%s is not a size (like 32M, 1G or 0 for unbounded); using 32M", size);
    } else if (bytes != 0 && bytes < kMinMaxTraceSize) {
      warn("CONNLEAK_MAX_TRACE_SIZE=%s is below the smallest cap, 1M; using 1M", size);
      config.max_trace_size = kMinMaxTraceSize;
    } else {
      config.max_trace_size = bytes;
    }
  }
  if (const char* off = getenv("CONNLEAK_DISABLE"); off && strcmp(off, "1") == 0) {
    config.disabled = true;
  }
  return config;
}

}  // namespace connleak::shim
