// Reads a trace that is still being written (connleak watch): each look
// reads only what was appended since the last one, with pread() rather than
// a mapping, since the writer trims its file when it ends or execs and a
// mapping would fault past the new end.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "trace/trace_reader.h"

namespace connleak {

class GrowingTrace {
 public:
  // Reads and checks the header. Throws TraceError.
  explicit GrowingTrace(const std::filesystem::path& path);

  const trace::FileHeader& header() const { return header_; }
  std::string name() const { return path_.filename().string(); }
  const std::filesystem::path& path() const { return path_; }

  // Calls `visit` for each record published since the last call, in file
  // order, and returns how many there were. A record whose writer is still
  // filling it in ends the look; one still unfinished at the next look,
  // with records after it, was abandoned and is skipped. Throws TraceError
  // for a corrupt record or a file that is gone.
  size_t read_new(const std::function<void(const RecordView&)>& visit);
  // The records of `size` bytes at `offsets` as the file holds them now
  // (I/O counters are updated in place): `got` is called for each one read.
  void reread(const std::vector<uint64_t>& offsets, size_t size,
              const std::function<void(uint64_t offset, const char* bytes)>& got) const;
  // Bytes read so far (the offset reached in the file).
  uint64_t offset() const { return offset_; }

 private:
  std::filesystem::path path_;
  trace::FileHeader header_{};
  uint64_t offset_ = 0;
  uint64_t unfinished_at_ = 0;  // a record seen unpublished at the last look
  std::vector<char> buffer_;
};

}  // namespace connleak
