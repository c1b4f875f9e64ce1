// The shim's settings, read once from the environment at start-up.
#pragma once

#include <cstddef>

namespace connleak::shim {

struct Config {
  // CONNLEAK_OUTPUT_DIR: where trace files go (default: the current directory).
  char output_dir[1024] = ".";
  // CONNLEAK_STACK_DEPTH: frames kept per stack, 0..kMaxStackDepth (default
  // 32); 0 records no stacks at all (the cheapest mode).
  int stack_depth = 32;
  // CONNLEAK_DISABLE=1: load but record nothing.
  bool disabled = false;
};

inline constexpr int kMaxStackDepth = 128;

Config read_config();

}  // namespace connleak::shim
