// The shim's settings, read once from the environment at start-up.
#pragma once

#include <cstddef>
#include <cstdint>

namespace connleak::shim {

inline constexpr int kMaxStackDepth = 128;
inline constexpr uint64_t kDefaultMaxTraceSize = uint64_t(32) << 20;
// Smaller caps leave no room for a checkpoint next to the records.
inline constexpr uint64_t kMinMaxTraceSize = uint64_t(1) << 20;

struct Config {
  // CONNLEAK_OUTPUT_DIR: where trace files go (default: the current directory).
  char output_dir[1024] = ".";
  // CONNLEAK_STACK_DEPTH: frames kept per stack, 0..kMaxStackDepth (default
  // 32); 0 records no stacks at all (the cheapest mode).
  int stack_depth = 32;
  // CONNLEAK_MAX_TRACE_SIZE: the most bytes one process image's trace files
  // take on disk ("32M", "1G", "500K", bytes; 0 = unbounded). Past half of
  // it the trace moves on to a new segment that starts with a checkpoint of
  // everything open, and the segment before the previous one is deleted.
  // The default, 32 MiB, keeps about 16 MiB of full history (some 20 s of a
  // process making 20,000 connections a second, minutes to hours for most
  // programs) in a size that a test run with hundreds of processes can
  // still afford on disk, while a checkpoint of a busy server (thousands of
  // open sockets at ~150 bytes each) stays a small part of a segment.
  uint64_t max_trace_size = kDefaultMaxTraceSize;
  // CONNLEAK_DISABLE=1: load but record nothing.
  bool disabled = false;
};

Config read_config();
// "32M", "1G", "4096", "0": bytes, or false when it is no size.
bool parse_size(const char* text, uint64_t* bytes);

}  // namespace connleak::shim
