// Reads one trace file written by the shim (see include/connleak/trace_format.h):
// checks its header, then hands out its records in order. Any damage gets a
// TraceError whose message names the file and the offset.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "connleak/trace_format.h"

namespace connleak {

struct TraceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One complete record, as stored in the file.
class RecordView {
 public:
  RecordView(const trace::RecordHeader* header, uint64_t offset) : header_(header), offset_(offset) {}
  trace::RecordType type() const { return trace::RecordType(header_->type); }
  uint64_t offset() const { return offset_; }
  size_t size() const { return header_->size; }
  // The record as its fixed-layout struct; its size was checked by the reader.
  template <class R>
  const R& as() const {
    return *reinterpret_cast<const R*>(header_);
  }
  // The variable-length bytes after the fixed part of R.
  template <class R>
  std::string_view tail() const {
    return {reinterpret_cast<const char*>(header_) + sizeof(R), size() - sizeof(R)};
  }

 private:
  const trace::RecordHeader* header_;
  uint64_t offset_;
};

class TraceFile {
 public:
  // Maps the file and checks its header. Throws TraceError.
  explicit TraceFile(const std::filesystem::path& path);
  ~TraceFile();
  TraceFile(TraceFile&& other) noexcept;
  TraceFile(const TraceFile&) = delete;
  TraceFile& operator=(const TraceFile&) = delete;
  TraceFile& operator=(TraceFile&&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string name() const { return path_.filename().string(); }
  const trace::FileHeader& header() const { return *reinterpret_cast<const trace::FileHeader*>(data_); }

  // Calls `visit` for every complete record, in file order. Throws TraceError
  // for a truncated or corrupt file. Records of unknown types (from a newer
  // writer) are skipped.
  void for_each_record(const std::function<void(const RecordView&)>& visit) const;
  // Like for_each_record, but stops as soon as `visit` returns false (then
  // without checking the rest of the file).
  void scan_records(const std::function<bool(const RecordView&)>& visit) const;
  // Records reserved but never completed (the writer died mid-record).
  uint64_t incomplete_records() const { return incomplete_; }
  // True when the trace ends with a ProcessEnd record.
  bool ended_cleanly() const { return ended_cleanly_; }

 private:
  [[noreturn]] void fail(const std::string& what, uint64_t offset) const;
  void check_header() const;
  void check_record(const trace::RecordHeader& header, uint64_t offset) const;
  void release_pages_before(uint64_t offset, uint64_t& released) const;

  std::filesystem::path path_;
  const char* data_ = nullptr;
  size_t size_ = 0;
  mutable uint64_t incomplete_ = 0;
  mutable bool ended_cleanly_ = false;
};

// What is wrong with a whole record (its h.size bytes are there): a size
// that is no record's, or fields that claim more than it holds; "" if
// nothing. Published records only (h.type != 0).
std::string record_problem(const trace::RecordHeader& h);

// Trace files named on the command line: files as they are, directories
// expanded to the connleak.*.trace files they hold. Throws TraceError for a
// path that does not exist or a directory without traces.
std::vector<std::filesystem::path> find_trace_files(const std::vector<std::string>& inputs);

}  // namespace connleak
