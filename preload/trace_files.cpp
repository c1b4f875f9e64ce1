#include "trace_files.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connleak/trace_format.h"
#include "real_functions.h"

namespace connleak::shim::files {
namespace {

// A CONNLEAK_OUTPUT_DIR that does not exist yet is made, as `connleak run`
// makes its own: every missing level, readable by the user alone.
void make_directories(const char* dir) {
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

// O_EXCL never follows a symlink at the final component; O_NOFOLLOW says so
// explicitly.
int open_new(const char* path) { return open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600); }

// Names attempt `attempt` of `pid`'s first trace: `name` in the directory,
// `path` absolute (the file is reopened by it later, and the program may
// have changed its working directory by then).
bool name_attempt(const char* dir, const char* cwd, int pid, int attempt, char* name, char* path, size_t path_size) {
  snprintf(name, trace::kTraceNameMax, "connleak.%d.%d.trace", pid, attempt);
  int length = dir[0] == '/' ? snprintf(path, path_size, "%s/%s", dir, name)
                             : snprintf(path, path_size, "%s/%s/%s", cwd, dir, name);
  return length >= 0 && size_t(length) < path_size;
}

// An unnamed file in `dir`, then its name: on ext4 that costs half of what
// open(O_CREAT) does (~80 us against 160-270 us on the project's VM, where
// it was most of a short process's start-up under the shim). -1 when the
// file system or a missing /proc refuses it; the caller then creates the
// file by name. EEXIST for every name: errno says so.
int link_unnamed(const char* dir, const char* cwd, int pid, char* name, char* path, size_t path_size) {
  char dir_path[1024];
  int length = dir[0] == '/' ? snprintf(dir_path, sizeof(dir_path), "%s", dir)
                             : snprintf(dir_path, sizeof(dir_path), "%s/%s", cwd, dir);
  if (length < 0 || size_t(length) >= sizeof(dir_path)) return -1;
  int fd = open(dir_path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  char self[64];
  snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (!name_attempt(dir, cwd, pid, attempt, name, path, path_size)) break;
    // Like O_EXCL: never replaces, and a symlink at the name is not followed.
    if (linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0) return fd;
    if (errno != EEXIST) break;
  }
  int saved = errno;
  real::close()(fd);
  errno = saved == EEXIST ? EEXIST : EOPNOTSUPP;
  return -1;
}

int open_exclusive(const char* dir, int pid, char* name, char* path, size_t path_size) {
  char cwd[1024] = "";
  if (dir[0] != '/' && !getcwd(cwd, sizeof(cwd))) return -1;
  int fd = link_unnamed(dir, cwd, pid, name, path, path_size);
  if (fd >= 0 || errno == EEXIST) return fd;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (!name_attempt(dir, cwd, pid, attempt, name, path, path_size)) return -1;
    fd = open_new(path);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

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

// Opens a trace file of `pid` and reads its header; -1 if it is none.
int open_trace_of(const char* path, int pid, trace::FileHeader& header, uint64_t& size) {
  int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pread(fd, &header, sizeof(header), 0) == ssize_t(sizeof(header)) &&
      memcmp(header.magic, trace::kMagic, sizeof(header.magic)) == 0 && header.pid == pid) {
    size = uint64_t(st.st_size);
    return fd;
  }
  real::close()(fd);
  return -1;
}

// Trims an open trace (its header and size already read) at its exec mark.
void trim_at_exec_mark(int fd, const trace::FileHeader& header, uint64_t size) {
  if (header.exec_data_end && header.exec_data_end < size) {
    // Keep one zero header after the data: readers take it for the end.
    uint64_t end = data_end_after(fd, header.exec_data_end, size) + sizeof(trace::RecordHeader);
    if (end < size) ftruncate(fd, off_t(end));
  }
}

}  // namespace

int create_first(const char* dir, int pid, char* name, char* path, size_t path_size) {
  int fd = open_exclusive(dir, pid, name, path, path_size);
  if (fd < 0 && errno == ENOENT) {
    make_directories(dir);
    fd = open_exclusive(dir, pid, name, path, path_size);
  }
  return fd;
}

int create_segment(const char* dir, const char* name, char* path, size_t path_size) {
  int length = snprintf(path, path_size, "%s/%s", dir, name);
  if (length < 0 || size_t(length) >= path_size) return -1;
  int fd = open_new(path);
  if (fd < 0 && errno == EEXIST) {
    // A segment of this number from an attempt that was given up: only
    // this image writes such names.
    unlink(path);
    fd = open_new(path);
  }
  return fd;
}

void segment_name(const char* stem, uint32_t segment, char* name) {
  if (segment == 0) {
    snprintf(name, trace::kTraceNameMax, "%.40s.trace", stem);
  } else {
    snprintf(name, trace::kTraceNameMax, "%.40s.s%u.trace", stem, segment);
  }
}

// fallocate() past RLIMIT_FSIZE raises SIGXFSZ, whose default action would
// kill a program that itself never writes a file that large: the signal is
// blocked for the call and, if the call raised it, taken back.
bool extend(int fd, uint64_t from, uint64_t to, bool allocate) {
  sigset_t xfsz, saved, pending;
  sigemptyset(&xfsz);
  sigaddset(&xfsz, SIGXFSZ);
  pthread_sigmask(SIG_BLOCK, &xfsz, &saved);
  bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGXFSZ);
  bool extended = allocate ? fallocate(fd, 0, off_t(from), off_t(to - from)) == 0 : ftruncate(fd, off_t(to)) == 0;
  if (!extended && errno == EFBIG && !was_pending) {
    timespec now{0, 0};
    sigtimedwait(&xfsz, nullptr, &now);
  }
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  return extended;
}

int reopen(const char* path, uint64_t device, uint64_t inode) {
  int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_dev != device || st.st_ino != inode) {
    real::close()(fd);
    return -1;
  }
  return fd;
}

void trim_previous_image(const char* dir, const char* stem, int pid) {
  // connleak.<pid>.<n>: the previous image of this pid wrote <n-1>, in
  // segments when bounded; its exec mark is in its newest one.
  int attempt = 0;
  if (sscanf(stem, "connleak.%*d.%d", &attempt) != 1 || attempt == 0) return;
  char previous[trace::kTraceNameMax], name[trace::kTraceNameMax], path[1200];
  snprintf(previous, sizeof(previous), "connleak.%d.%d", pid, attempt - 1);
  segment_name(previous, 0, name);
  if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= int(sizeof(path))) return;
  trace::FileHeader first;
  uint64_t size = 0;
  int fd = open_trace_of(path, pid, first, size);
  if (fd < 0) return;
  if (first.last_segment) {  // bounded: the exec mark is in the newest segment
    real::close()(fd);
    segment_name(previous, first.last_segment, name);
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= int(sizeof(path))) return;
    fd = open_trace_of(path, pid, first, size);
    if (fd < 0) return;
  }
  trim_at_exec_mark(fd, first, size);  // one open of an unbounded trace, not two
  real::close()(fd);
}

bool patch_header(const char* path, int pid, size_t offset, const void* bytes, size_t size) {
  trace::FileHeader header;
  uint64_t file_size = 0;
  int fd = open_trace_of(path, pid, header, file_size);
  if (fd < 0) return false;
  bool written = pwrite(fd, bytes, size, off_t(offset)) == ssize_t(size);
  real::close()(fd);
  return written;
}

}  // namespace connleak::shim::files
