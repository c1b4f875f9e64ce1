// The environment a new image starts with. A program may hand exec or
// posix_spawn a scrubbed environment; the shim puts its own LD_PRELOAD entry
// and CONNLEAK_* settings back, so every program it starts stays traced.
#pragma once

#include <cstddef>

namespace connleak::shim {

// Remembers the shim's own settings at start-up (its path, the absolute
// output directory, the stack depth).
void remember_exec_settings(const char* shim_path, const char* output_dir, int stack_depth);

class NextImageEnv {
 public:
  // `envp` as given to exec (execv-style calls pass environ); a null envp is
  // an empty environment, as the kernel takes it.
  explicit NextImageEnv(char* const* envp);
  ~NextImageEnv();  // only reached when the exec failed
  NextImageEnv(const NextImageEnv&) = delete;
  NextImageEnv& operator=(const NextImageEnv&) = delete;
  char* const* envp() const { return envp_; }

 private:
  char* const* envp_;
  void* block_ = nullptr;
  size_t block_size_ = 0;
};

}  // namespace connleak::shim
