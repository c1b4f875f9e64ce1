#include "exec_env.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

namespace connleak::shim {
namespace {

// Filled once at start-up, read-only afterwards.
char g_shim_path[1024];
char g_output_dir_entry[1100];
char g_stack_depth_entry[64];

constexpr char kPreload[] = "LD_PRELOAD=";
constexpr char kOutputDir[] = "CONNLEAK_OUTPUT_DIR=";
constexpr char kStackDepth[] = "CONNLEAK_STACK_DEPTH=";

bool starts_with(const char* s, const char* prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

// ld.so splits LD_PRELOAD at spaces and colons.
bool preload_has_shim(const char* value) {
  size_t len = strlen(g_shim_path);
  for (const char* p = strstr(value, g_shim_path); p; p = strstr(p + 1, g_shim_path)) {
    bool starts = p == value || p[-1] == ' ' || p[-1] == ':';
    bool ends = p[len] == '\0' || p[len] == ' ' || p[len] == ':';
    if (starts && ends) return true;
  }
  return false;
}

// A bump allocator over one mmap'd block: no malloc on this path.
struct Arena {
  char* next;
  char* end;
  // Stores the concatenation of the parts as one string.
  char* copy(const char* a, const char* b = "", const char* c = "", const char* d = "") {
    const char* parts[] = {a, b, c, d};
    size_t total = 0;
    for (const char* p : parts) total += strlen(p);
    if (size_t(end - next) < total + 1) return nullptr;
    char* out = next;
    for (const char* p : parts) {
      size_t len = strlen(p);
      memcpy(next, p, len);
      next += len;
    }
    *next++ = '\0';
    return out;
  }
};

}  // namespace

void remember_exec_settings(const char* shim_path, const char* output_dir, int stack_depth) {
  snprintf(g_shim_path, sizeof(g_shim_path), "%s", shim_path);
  snprintf(g_output_dir_entry, sizeof(g_output_dir_entry), "%s%s", kOutputDir, output_dir);
  if (stack_depth != 32) snprintf(g_stack_depth_entry, sizeof(g_stack_depth_entry), "%s%d", kStackDepth, stack_depth);
}

NextImageEnv::NextImageEnv(char* const* envp) : envp_(envp) {
  if (!g_shim_path[0]) return;
  size_t count = 0, bytes = 0;
  for (char* const* e = envp_; e && *e; ++e, ++count) bytes += strlen(*e) + 1;
  block_size_ = (count + 4) * sizeof(char*) + bytes + 2 * sizeof(g_shim_path) + sizeof(g_output_dir_entry) + 128;
  void* block = mmap(nullptr, block_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) return;  // exec with the program's own environment
  block_ = block;
  auto** out = static_cast<char**>(block);
  Arena arena{reinterpret_cast<char*>(out + count + 4), static_cast<char*>(block) + block_size_};
  size_t n = 0;
  bool preload = false, output_dir = false, stack_depth = false;
  for (char* const* e = envp_; e && *e; ++e) {
    char* entry = *e;
    if (starts_with(entry, kPreload)) {
      preload = true;
      if (!preload_has_shim(entry + strlen(kPreload))) {
        const char* rest = entry + strlen(kPreload);
        if (char* patched = arena.copy(kPreload, g_shim_path, *rest ? " " : "", rest)) entry = patched;
      }
    }
    output_dir |= starts_with(entry, kOutputDir);
    stack_depth |= starts_with(entry, kStackDepth);
    out[n++] = entry;
  }
  if (!preload) out[n++] = arena.copy(kPreload, g_shim_path);
  if (!output_dir) out[n++] = g_output_dir_entry;
  if (!stack_depth && g_stack_depth_entry[0]) out[n++] = g_stack_depth_entry;
  out[n] = nullptr;
  for (size_t i = 0; i < n; ++i) {
    if (!out[i]) return;  // the arena ran out: keep the program's environment
  }
  envp_ = out;
}

NextImageEnv::~NextImageEnv() {
  if (block_) munmap(block_, block_size_);
}

}  // namespace connleak::shim
