#include "trace_writer.h"

#include <errno.h>

#include <algorithm>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errno_keeper.h"
#include "real_functions.h"
#include "shim_log.h"

namespace connleak::shim {
namespace {

// The file grows in chunks; the mapping is reserved once, up to a cap.
constexpr uint64_t kFirstChunk = 64 * 1024;
constexpr uint64_t kMaxChunk = 4 * 1024 * 1024;
constexpr uint64_t kCapacities[] = {uint64_t(4) << 30, uint64_t(256) << 20, uint64_t(16) << 20};
// MADV_POPULATE_WRITE (Linux 5.14); older kernels refuse it, harmlessly.
constexpr int kPopulateWrite = 23;
// A finished writer's used_ is pushed past any capacity so reservations fail.
constexpr uint64_t kFinished = uint64_t(1) << 62;

uint64_t grow_target(uint64_t have, uint64_t needed) {
  uint64_t step = have < kFirstChunk ? kFirstChunk : (have < kMaxChunk ? have : kMaxChunk);
  uint64_t target = have + step;
  return target >= needed ? target : (needed + step - 1) / step * step;
}

// fallocate() past RLIMIT_FSIZE raises SIGXFSZ, whose default action would
// kill a program that itself never writes a file that large: the signal is
// blocked for the call and, if the call raised it, taken back.
bool extend_file(int fd, uint64_t from, uint64_t to) {
  sigset_t xfsz, saved, pending;
  sigemptyset(&xfsz);
  sigaddset(&xfsz, SIGXFSZ);
  pthread_sigmask(SIG_BLOCK, &xfsz, &saved);
  bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGXFSZ);
  bool extended = fallocate(fd, 0, off_t(from), off_t(to - from)) == 0;
  if (!extended && errno == EFBIG && !was_pending) {
    timespec now{0, 0};
    sigtimedwait(&xfsz, nullptr, &now);
  }
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  return extended;
}

// The path is made absolute: the file is reopened by it later, and the
// program may have changed its working directory by then.
int open_exclusive(const char* dir, int pid, char* name, char* path, size_t path_size) {
  char cwd[1024] = "";
  if (dir[0] != '/' && !getcwd(cwd, sizeof(cwd))) return -1;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    snprintf(name, trace::kTraceNameMax, "connleak.%d.%d.trace", pid, attempt);
    int length = dir[0] == '/' ? snprintf(path, path_size, "%s/%s", dir, name)
                               : snprintf(path, path_size, "%s/%s/%s", cwd, dir, name);
    if (length < 0 || size_t(length) >= path_size) return -1;
    // O_EXCL never follows a symlink at the final component; O_NOFOLLOW says
    // so explicitly.
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

}  // namespace

// A CONNLEAK_OUTPUT_DIR that does not exist yet is made, as `connleak run`
// makes its own: every missing level, readable by the user alone.
static void make_directories(const char* dir) {
  char path[1024];
  size_t length = strnlen(dir, sizeof(path) - 1);
  memcpy(path, dir, length);
  path[length] = '\0';
  for (size_t i = 1; i <= length; ++i) {
    if (path[i] != '/' && path[i] != '\0') continue;
    char saved = path[i];
    path[i] = '\0';
    mkdir(path, 0700);  // EEXIST for the levels already there
    path[i] = saved;
  }
}

bool TraceWriter::create(const char* dir, int pid, const trace::FileHeader& header) {
  int fd = open_exclusive(dir, pid, name_, path_, sizeof(path_));
  if (fd < 0 && errno == ENOENT) {
    make_directories(dir);
    fd = open_exclusive(dir, pid, name_, path_, sizeof(path_));
  }
  if (fd < 0) {
    warn("cannot create a trace file in %s; this process is not traced", dir);
    return false;
  }
  bool mapped = map_file(fd);
  real::close()(fd);
  if (!mapped) {
    warn("cannot map trace file %s; this process is not traced", path_);
    unlink(path_);
    return false;
  }
  auto* file_header = reinterpret_cast<trace::FileHeader*>(base_);
  memcpy(file_header, &header, sizeof(header));
  return true;
}

bool TraceWriter::map_file(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  device_ = st.st_dev;
  inode_ = st.st_ino;
  used_.store(sizeof(trace::FileHeader), std::memory_order_relaxed);
  allocated_.store(0, std::memory_order_relaxed);
  for (uint64_t capacity : kCapacities) {
    void* p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) continue;
    base_ = static_cast<char*>(p);
    capacity_ = capacity;
    if (extend_file(fd, 0, kFirstChunk)) {
      madvise(base_, kFirstChunk, kPopulateWrite);
      allocated_.store(kFirstChunk, std::memory_order_release);
      return true;
    }
    munmap(p, capacity);
    base_ = nullptr;
    return false;
  }
  return false;
}

int TraceWriter::reopen() const {
  int fd = open(path_, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_dev != device_ || st.st_ino != inode_) {
    real::close()(fd);
    return -1;
  }
  return fd;
}

void* TraceWriter::reserve_slow(uint64_t offset, size_t size) {
  // Growing the file makes system calls; an I/O hook records after a
  // successful call, whose errno the program may still look at.
  ErrnoKeeper keep;
  uint64_t needed = offset + size + sizeof(trace::RecordHeader) + kFinalReserve;
  if (needed > capacity_ || !ensure_allocated(needed)) {
    lost_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  return start_record(offset, size);
}

void* TraceWriter::reserve_tail(size_t size, size_t keep_back) {
  if (!base_) return nullptr;
  size = trace::align_record(size);
  uint64_t allocated = allocated_.load(std::memory_order_acquire);
  uint64_t expected = 0;
  if (tail_used_.compare_exchange_strong(expected, allocated - kFinalReserve, std::memory_order_acq_rel)) {
    used_.store(kFinished, std::memory_order_release);  // ordinary records could reach the tail now
    __atomic_store_n(&reinterpret_cast<trace::FileHeader*>(base_)->tail_offset, allocated - kFinalReserve,
                     __ATOMIC_RELEASE);
  }
  uint64_t offset = tail_used_.fetch_add(size, std::memory_order_acq_rel);
  if (offset + size + sizeof(trace::RecordHeader) + keep_back > allocated) {
    // Only the exit path (one thread, Tracker::on_exit) writes here: the
    // space can be given back for a smaller record.
    tail_used_.fetch_sub(size, std::memory_order_acq_rel);
    return nullptr;
  }
  return start_record(offset, size);
}

bool TraceWriter::ensure_allocated(uint64_t needed) {
  uint64_t have = allocated_.load(std::memory_order_acquire);
  while (have < needed) {
    uint64_t target = grow_target(have, needed);
    if (target > capacity_) target = capacity_;
    // fallocate only ever extends, so racing writers cannot shrink the file.
    int fd = reopen();
    bool grown = fd >= 0 && extend_file(fd, have, target);
    if (fd >= 0) real::close()(fd);
    if (!grown) {
      if (!warned_full_.exchange(true)) {
        warn("trace file %s cannot grow (disk full, no free fd, or the file was removed); later events are lost",
             path_);
      }
      return false;
    }
    // Fault the new chunk's pages in now, in one call: one page fault per
    // 4 KiB on a fresh file extent costs more than the records written there.
    madvise(base_ + have, target - have, kPopulateWrite);
    while (have < target &&
           !allocated_.compare_exchange_weak(have, target, std::memory_order_acq_rel)) {
    }
  }
  return true;
}

void TraceWriter::finish() {
  if (!base_) return;
  if (finished_.exchange(true)) return;
  uint64_t used = used_.exchange(kFinished, std::memory_order_acq_rel);
  uint64_t tail = tail_used_.load(std::memory_order_acquire);
  uint64_t allocated = allocated_.load(std::memory_order_acquire);
  if (tail) {
    used = tail;
  } else if (used > allocated) {
    used = allocated;  // reservations refused past the end: the data ends before
  }
  // Trimming makes a clean trace end exactly at its ProcessEnd record. A
  // process with no fd left keeps the zero padding, which readers skip.
  int fd = reopen();
  if (fd < 0) return;
  if (ftruncate(fd, off_t(used)) != 0) warn("cannot trim trace file %s", path_);
  real::close()(fd);
}

void TraceWriter::mark_exec(bool execing) {
  if (!base_) return;
  uint64_t end = 0;
  if (execing) {
    end = std::min(used_.load(std::memory_order_acquire), allocated_.load(std::memory_order_acquire));
    if (uint64_t tail = tail_used_.load(std::memory_order_acquire)) end = tail;
  }
  __atomic_store_n(&reinterpret_cast<trace::FileHeader*>(base_)->exec_data_end, end, __ATOMIC_RELEASE);
}

namespace {

// Where the records of an exec'd-away trace end: from its mark on (other
// threads may have written a few records after it before the exec).
uint64_t data_end_after(int fd, uint64_t from, uint64_t size) {
  uint64_t offset = from;
  trace::RecordHeader h;
  while (offset + sizeof(h) <= size && pread(fd, &h, sizeof(h), off_t(offset)) == ssize_t(sizeof(h))) {
    if (h.size == 0 || h.size % trace::kRecordAlign) break;  // the zero header after the data
    offset += h.size;
  }
  return offset;
}

}  // namespace

void TraceWriter::trim_previous_image(int pid) const {
  // connleak.<pid>.<n>.trace: the previous image of this pid wrote <n-1>.
  const char* dot = strrchr(name_, '.');
  int attempt = 0;
  if (!dot || dot == name_ || sscanf(name_, "connleak.%*d.%d.trace", &attempt) != 1 || attempt == 0) return;
  char previous[sizeof(path_)];
  size_t dir_length = size_t(strrchr(path_, '/') - path_);
  if (snprintf(previous, sizeof(previous), "%.*s/connleak.%d.%d.trace", int(dir_length), path_, pid, attempt - 1) >=
      int(sizeof(previous)))
    return;
  int fd = open(previous, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return;
  trace::FileHeader header;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pread(fd, &header, sizeof(header), 0) == ssize_t(sizeof(header)) &&
      memcmp(header.magic, trace::kMagic, sizeof(header.magic)) == 0 && header.pid == pid && header.exec_data_end &&
      header.exec_data_end < uint64_t(st.st_size)) {
    // Keep one zero header after the data: readers take it for the end.
    uint64_t end = data_end_after(fd, header.exec_data_end, uint64_t(st.st_size)) + sizeof(trace::RecordHeader);
    if (end < uint64_t(st.st_size)) ftruncate(fd, off_t(end));
  }
  real::close()(fd);
}

TraceWriter::Detached TraceWriter::detach() {
  Detached detached{base_, capacity_};
  base_ = nullptr;
  tail_used_.store(0, std::memory_order_relaxed);
  finished_.store(false, std::memory_order_relaxed);
  used_.store(0, std::memory_order_relaxed);
  allocated_.store(0, std::memory_order_relaxed);
  lost_.store(0, std::memory_order_relaxed);
  warned_full_.store(false, std::memory_order_relaxed);
  return detached;
}

void TraceWriter::release(const Detached& detached) {
  if (detached.base) munmap(detached.base, detached.capacity);
}

}  // namespace connleak::shim
