#include "trace/growing_trace.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace connleak {
namespace {

// Opened for one look at a time: watching many processes holds no fds.
struct ReadFd {
  int fd;
  explicit ReadFd(const std::filesystem::path& path) : fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) {}
  ~ReadFd() {
    if (fd >= 0) ::close(fd);
  }
  ReadFd(const ReadFd&) = delete;
  ReadFd& operator=(const ReadFd&) = delete;
};

// Reads up to `size` bytes at `offset`; the number read.
size_t read_at(int fd, char* out, size_t size, uint64_t offset) {
  size_t got = 0;
  while (got < size) {
    ssize_t n = pread(fd, out + got, size - got, off_t(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += size_t(n);
  }
  return got;
}

constexpr size_t kReadChunk = 4 << 20;

}  // namespace

GrowingTrace::GrowingTrace(const std::filesystem::path& path) : path_(path) {
  ReadFd file(path);
  if (file.fd < 0) throw TraceError(path.string() + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode)) throw TraceError(path.string() + ": not a regular file");
  if (read_at(file.fd, reinterpret_cast<char*>(&header_), sizeof(header_), 0) != sizeof(header_) ||
      std::memcmp(header_.magic, trace::kMagic, sizeof(header_.magic)) != 0)
    throw TraceError(path.string() + ": not a connleak trace (bad magic)");
  if (header_.endian_marker != trace::kEndianMarker || header_.min_reader_version > trace::kFormatVersion ||
      header_.header_size < sizeof(trace::FileHeader) || header_.header_size % trace::kRecordAlign)
    throw TraceError(path.string() + ": a trace this connleak cannot read (byte order, version or header)");
  offset_ = header_.header_size;
}

size_t GrowingTrace::read_new(const std::function<void(const RecordView&)>& visit) {
  ReadFd file(path_);
  if (file.fd < 0) throw TraceError(path_.string() + ": cannot open: " + std::strerror(errno));
  size_t records = 0;
  for (;;) {
    buffer_.resize(kReadChunk);
    size_t got = read_at(file.fd, buffer_.data(), buffer_.size(), offset_);
    size_t used = 0;
    while (used + sizeof(trace::RecordHeader) <= got) {
      const auto& h = *reinterpret_cast<const trace::RecordHeader*>(buffer_.data() + used);
      if (h.size == 0 || used + h.size > got) break;  // the end of the data so far, or a record not all here
      uint64_t at = offset_ + used;
      if (h.type == 0) {
        // Unpublished: wait for its writer, unless it was so at the last look too.
        if (at != unfinished_at_) {
          unfinished_at_ = at;
          break;
        }
      } else {
        if (std::string problem = record_problem(h); !problem.empty())
          throw TraceError(path_.string() + ": " + problem + " at offset " + std::to_string(at));
        if (h.type <= trace::kMaxRecordType) visit(RecordView(&h, at));
        ++records;
      }
      used += h.size;
    }
    offset_ += used;
    if (got < buffer_.size() || used == 0) break;  // all that is there has been read
  }
  return records;
}

void GrowingTrace::reread(const std::vector<uint64_t>& offsets, size_t size,
                          const std::function<void(uint64_t offset, const char* bytes)>& got) const {
  ReadFd file(path_);
  if (file.fd < 0) return;
  std::vector<char> bytes(size);
  for (uint64_t offset : offsets) {
    if (offset + size <= offset_ && read_at(file.fd, bytes.data(), size, offset) == size) got(offset, bytes.data());
  }
}

}  // namespace connleak
