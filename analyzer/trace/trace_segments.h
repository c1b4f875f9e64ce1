// The trace files of one process image as one trace. A bounded trace
// (trace_format.h, FileHeader::segment) is a run of segment files,
// connleak.<pid>.<n>.trace and connleak.<pid>.<n>.s<k>.trace; the oldest
// segments are deleted as the process runs, and every segment after the
// first starts with a checkpoint of all the image had open. The image is
// read from the oldest segment that the newest can be reached from without
// a gap; what cannot be read that way gets a one-line warning.
#pragma once

#include <string>
#include <vector>

#include "trace/trace_reader.h"

namespace connleak {

struct TraceImage {
  std::string name;                        // its first file's name, connleak.<pid>.<n>.trace
  std::vector<const TraceFile*> segments;  // to replay, oldest first
  const TraceFile& first() const { return *segments.front(); }
  // Read from the image's start (segment 0), not from a checkpoint.
  bool from_start() const { return first().header().segment == 0; }
  // Every file name of its segments (fork children name the one they
  // forked from).
  std::vector<std::string> names;
};

// Groups `traces` by image (files of other names stand alone), in the order
// of each image's first file. Problems go to `warnings`.
std::vector<TraceImage> group_segments(const std::vector<TraceFile>& traces, std::vector<std::string>& warnings);

// "connleak.12.0" for connleak.12.0.trace and connleak.12.0.s3.trace; the
// whole name for a file named otherwise.
std::string image_stem(const std::string& file_name);

// Whether a segment after the first starts with a complete checkpoint (one
// killed while writing it has none).
bool has_complete_checkpoint(const TraceFile& segment);
// Whether a bounded fork child's trace starts with the checkpoint of what it
// inherited (trace::kCheckpointForkStart).
bool has_fork_checkpoint(const TraceFile& child);

}  // namespace connleak
