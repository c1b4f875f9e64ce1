// The trace's files, by path: creating them (never through a symlink),
// growing them without SIGXFSZ, reopening them for one call, and trimming
// the trace an exec'd-away image left. No fd stays open past a call.
#pragma once

#include <cstddef>
#include <cstdint>

namespace connleak::shim::files {

// Creates connleak.<pid>.<n>.trace in `dir` (made if missing) for the first
// free n; fills `name` (kTraceNameMax) and the absolute `path`. Returns the
// fd, or -1.
int create_first(const char* dir, int pid, char* name, char* path, size_t path_size);
// Creates the segment file `name` in `dir` exclusively; fills `path`.
int create_segment(const char* dir, const char* name, char* path, size_t path_size);
// stem "connleak.<pid>.<n>", segment k: the stem's segment file name.
void segment_name(const char* stem, uint32_t segment, char* name);
// Sizes the file to `to`: fallocate() from `from` (or, with !allocate, a
// sparse ftruncate()); never raises SIGXFSZ at the program.
bool extend(int fd, uint64_t from, uint64_t to, bool allocate = true);
// `path` opened read-write if it is still the file (device, inode); else -1.
int reopen(const char* path, uint64_t device, uint64_t inode);
// See TraceWriter::trim_previous_image.
void trim_previous_image(const char* dir, const char* stem, int pid);
// Writes `size` bytes at `offset` of the trace file `path` of `pid`, if
// it is one (magic and pid checked).
bool patch_header(const char* path, int pid, size_t offset, const void* bytes, size_t size);

}  // namespace connleak::shim::files
