#include "trace/trace_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace connleak {
namespace {

namespace fs = std::filesystem;
using trace::RecordType;

// The smallest size a record of each type can have.
size_t fixed_size(RecordType type) {
  switch (type) {
    case RecordType::kProcessInfo: return sizeof(trace::ProcessInfo);
    case RecordType::kModule: return sizeof(trace::Module);
    case RecordType::kStack: return sizeof(trace::Stack);
    case RecordType::kSocketOpen: return sizeof(trace::SocketOpen);
    case RecordType::kConnect: return sizeof(trace::Connect);
    case RecordType::kAccept: return sizeof(trace::Accept);
    case RecordType::kBind: return sizeof(trace::Bind);
    case RecordType::kListen: return sizeof(trace::Listen);
    case RecordType::kClose: return sizeof(trace::Close);
    case RecordType::kCloseRange: return sizeof(trace::CloseRange);
    case RecordType::kDup: return sizeof(trace::Dup);
    case RecordType::kShutdown: return sizeof(trace::Shutdown);
    case RecordType::kSetCloexec: return sizeof(trace::SetCloexec);
    case RecordType::kFork: return sizeof(trace::Fork);
    case RecordType::kExec: return sizeof(trace::Exec);
    case RecordType::kExecFailed: return sizeof(trace::ExecFailed);
    case RecordType::kOpenAtExit: return sizeof(trace::OpenAtExit);
    case RecordType::kLost: return sizeof(trace::Lost);
    case RecordType::kProcessEnd: return sizeof(trace::ProcessEnd);
    case RecordType::kIoCounters: return sizeof(trace::IoCounters);
    case RecordType::kInheritedFd: return sizeof(trace::InheritedFd);
    case RecordType::kPassOn: return sizeof(trace::PassOn);
    case RecordType::kSpawn: return sizeof(trace::Spawn);
    case RecordType::kChildExit: return sizeof(trace::ChildExit);
    case RecordType::kBadClose: return sizeof(trace::BadClose);
    case RecordType::kSessionBegin: return sizeof(trace::SessionBegin);
    case RecordType::kSessionEvent: return sizeof(trace::SessionEvent);
    case RecordType::kSocketOwner: return sizeof(trace::SocketOwner);
    case RecordType::kForkFds: return sizeof(trace::ForkFds);
    case RecordType::kSocketInode: return sizeof(trace::SocketInode);
    case RecordType::kCheckpointBegin: return sizeof(trace::CheckpointBegin);
    case RecordType::kCheckpointEnd: return sizeof(trace::CheckpointEnd);
    case RecordType::kSiteCounters: return sizeof(trace::SiteCounters);
    case RecordType::kSessionState: return sizeof(trace::SessionState);
    case RecordType::kNone: break;
  }
  return 0;
}

// The bytes a record's variable part claims, beyond its fixed part.
size_t claimed_tail(const trace::RecordHeader& h) {
  auto* base = reinterpret_cast<const char*>(&h);
  switch (RecordType(h.type)) {
    case RecordType::kProcessInfo: {
      auto& r = *reinterpret_cast<const trace::ProcessInfo*>(base);
      return size_t(r.exe_len) + r.args_len;
    }
    case RecordType::kModule: {
      auto& r = *reinterpret_cast<const trace::Module*>(base);
      return size_t(r.build_id_len) + r.path_len;
    }
    case RecordType::kStack: return sizeof(uint64_t) * reinterpret_cast<const trace::Stack*>(base)->depth;
    case RecordType::kConnect: return reinterpret_cast<const trace::Connect*>(base)->peer.addr_len;
    case RecordType::kAccept: return reinterpret_cast<const trace::Accept*>(base)->peer.addr_len;
    case RecordType::kBind: return reinterpret_cast<const trace::Bind*>(base)->local.addr_len;
    case RecordType::kOpenAtExit: return reinterpret_cast<const trace::OpenAtExit*>(base)->local.addr_len;
    case RecordType::kExec: return reinterpret_cast<const trace::Exec*>(base)->path_len;
    case RecordType::kSpawn: return reinterpret_cast<const trace::Spawn*>(base)->path_len;
    case RecordType::kSessionBegin: return reinterpret_cast<const trace::SessionBegin*>(base)->kind_len;
    case RecordType::kForkFds: return sizeof(int32_t) * size_t(reinterpret_cast<const trace::ForkFds*>(base)->count);
    case RecordType::kSiteCounters:
      return sizeof(trace::SitePoint) * size_t(reinterpret_cast<const trace::SiteCounters*>(base)->points);
    case RecordType::kInheritedFd: {
      // Two addresses: local (padded to 8), then a second tail with the peer.
      auto& r = *reinterpret_cast<const trace::InheritedFd*>(base);
      size_t local = trace::align_record(r.local.addr_len);
      if (h.size < sizeof(r) + local + sizeof(trace::AddressTail)) return SIZE_MAX / 2;
      auto* peer = reinterpret_cast<const trace::AddressTail*>(base + sizeof(r) + local);
      return local + sizeof(trace::AddressTail) + peer->addr_len;
    }
    default: return 0;
  }
}

}  // namespace

TraceFile::TraceFile(const fs::path& path) : path_(path) {
  // Never through a symlink, and never waiting on a FIFO or a device.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0 && errno == ELOOP) throw TraceError(path.string() + ": is a symbolic link; traces are not read through links");
  if (fd < 0) throw TraceError(path.string() + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw TraceError(path.string() + ": not a regular file");
  }
  size_ = size_t(st.st_size);
  if (size_ < sizeof(trace::FileHeader)) {
    ::close(fd);
    throw TraceError(path.string() + ": not a connleak trace (too short for a trace header)");
  }
  void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw TraceError(path.string() + ": cannot map: " + std::strerror(errno));
  data_ = static_cast<const char*>(p);
  try {
    check_header();
  } catch (...) {
    munmap(const_cast<char*>(data_), size_);
    throw;
  }
}

TraceFile::~TraceFile() {
  if (data_) munmap(const_cast<char*>(data_), size_);
}

TraceFile::TraceFile(TraceFile&& other) noexcept
    : path_(std::move(other.path_)), data_(other.data_), size_(other.size_),
      incomplete_(other.incomplete_), ended_cleanly_(other.ended_cleanly_) {
  other.data_ = nullptr;
}

void TraceFile::fail(const std::string& what, uint64_t offset) const {
  throw TraceError(path_.string() + ": " + what + " at offset " + std::to_string(offset));
}

void TraceFile::check_header() const {
  const auto& h = header();
  if (std::memcmp(h.magic, trace::kMagic, sizeof(h.magic)) != 0) {
    throw TraceError(path_.string() + ": not a connleak trace (bad magic)");
  }
  if (h.endian_marker != trace::kEndianMarker) {
    throw TraceError(path_.string() + ": written on a machine of other byte order");
  }
  if (h.min_reader_version > trace::kFormatVersion) {
    throw TraceError(path_.string() + ": written by a newer connleak (trace format " +
                     std::to_string(h.version) + "); this connleak reads format " +
                     std::to_string(trace::kFormatVersion) + " and older");
  }
  if (h.header_size < sizeof(trace::FileHeader) || h.header_size > size_ || h.header_size % 8) {
    throw TraceError(path_.string() + ": corrupt trace header (header size " +
                     std::to_string(h.header_size) + ")");
  }
}

std::string record_problem(const trace::RecordHeader& h) {
  if (h.size < sizeof(trace::RecordHeader) || h.size % trace::kRecordAlign)
    return "corrupt record (size " + std::to_string(h.size) + ")";
  if (h.type > trace::kMaxRecordType) return "";  // newer type: skipped, size is enough
  size_t fixed = fixed_size(RecordType(h.type));
  if (h.size < fixed || h.size < fixed + claimed_tail(h))
    return "corrupt record (type " + std::to_string(h.type) + ", size " + std::to_string(h.size) + ")";
  return "";
}

void TraceFile::check_record(const trace::RecordHeader& h, uint64_t offset) const {
  if (h.size >= sizeof(trace::RecordHeader) && h.size % trace::kRecordAlign == 0 && offset + h.size > size_)
    fail("trace is truncated: record runs past the end of the file", offset);
  if (std::string problem = record_problem(h); !problem.empty()) fail(problem, offset);
}

// Pages already read are handed back to the kernel as the reader goes, so
// the analyzer's memory does not grow with the length of the trace.
void TraceFile::release_pages_before(uint64_t offset, uint64_t& released) const {
  constexpr uint64_t kChunk = 16 << 20;
  if (offset < released + 2 * kChunk) return;
  uint64_t until = (offset - kChunk) & ~uint64_t(4095);
  madvise(const_cast<char*>(data_) + released, until - released, MADV_DONTNEED);
  released = until;
}

void TraceFile::for_each_record(const std::function<void(const RecordView&)>& visit) const {
  scan_records([&](const RecordView& record) {
    visit(record);
    return true;
  });
}

void TraceFile::scan_records(const std::function<bool(const RecordView&)>& visit) const {
  uint64_t offset = header().header_size;
  incomplete_ = 0;
  ended_cleanly_ = false;
  bool padded = false;
  uint64_t released = 0;
  while (offset + sizeof(trace::RecordHeader) <= size_) {
    release_pages_before(offset, released);
    const auto& h = *reinterpret_cast<const trace::RecordHeader*>(data_ + offset);
    if (h.type == 0 && h.size == 0) {
      uint64_t tail = header().tail_offset;
      if (tail > offset && tail + sizeof(trace::RecordHeader) <= size_ && tail % 8 == 0) {
        offset = tail;  // the trace was full: its end records sit in the space kept for them
        continue;
      }
      padded = true;  // the end of the data; the rest is zero padding
      break;
    }
    check_record(h, offset);
    if (h.type == 0) {
      ++incomplete_;  // reserved, never published: the writer died mid-record
    } else if (h.type <= trace::kMaxRecordType) {
      if (RecordType(h.type) == RecordType::kProcessEnd) ended_cleanly_ = true;
      if (!visit(RecordView(&h, offset))) return;
    }
    offset += h.size;
  }
  if (!padded && offset != size_) fail("trace is truncated: partial record header", offset);
  // A live writer always leaves a zero header after its last record; only a
  // clean end trims it. Data up to EOF without an end record means the file
  // lost its tail.
  if (!padded && !ended_cleanly_) fail("trace is truncated: it ends without an end record", offset);
}

std::vector<fs::path> find_trace_files(const std::vector<std::string>& inputs) {
  std::vector<fs::path> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    fs::file_status status = fs::status(input, ec);
    if (ec || !fs::exists(status)) throw TraceError(input + ": no such file or directory");
    if (!fs::is_directory(status)) {
      files.emplace_back(input);
      continue;
    }
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(input, ec)) {
      std::string name = entry.path().filename().string();
      if (name.starts_with("connleak.") && name.ends_with(".trace")) found.push_back(entry.path());
    }
    if (ec) throw TraceError(input + ": cannot list directory: " + ec.message());
    if (found.empty()) throw TraceError(input + ": no connleak traces (connleak.*.trace) in this directory");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

}  // namespace connleak
