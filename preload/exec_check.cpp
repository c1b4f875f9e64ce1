#include "exec_check.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "real_functions.h"
#include "shim_log.h"

namespace connleak::shim {
namespace {

enum class Verdict { kTraceable, kStatic, kSetid, kUnknown };

// An ELF64 file without a PT_INTERP program header runs without the
// dynamic loader, so nothing preloads into it.
bool is_static_elf(int fd) {
  Elf64_Ehdr header;
  if (pread(fd, &header, sizeof(header), 0) != ssize_t(sizeof(header))) return false;
  if (memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64) return false;
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr ph;
    off_t at = off_t(header.e_phoff) + off_t(i) * header.e_phentsize;
    if (pread(fd, &ph, sizeof(ph), at) != ssize_t(sizeof(ph))) return false;
    if (ph.p_type == PT_INTERP) return false;
  }
  return true;
}

Verdict judge(const char* path) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return Verdict::kUnknown;
  if ((st.st_mode & S_ISUID) || ((st.st_mode & S_ISGID) && (st.st_mode & S_IXGRP))) {
    if (st.st_uid != getuid() || st.st_gid != getgid()) return Verdict::kSetid;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Verdict::kUnknown;
  bool is_static = is_static_elf(fd);
  real::close()(fd);
  return is_static ? Verdict::kStatic : Verdict::kTraceable;
}

// The first PATH entry holding an executable `name`, as execvp finds it.
bool find_in_path(const char* name, char* out, size_t size) {
  const char* path = getenv("PATH");
  if (!path || !*path) path = "/bin:/usr/bin";
  while (*path) {
    const char* end = strchr(path, ':');
    size_t len = end ? size_t(end - path) : strlen(path);
    if (snprintf(out, size, "%.*s/%s", int(len), len ? path : ".", name) < int(size) && access(out, X_OK) == 0) {
      return true;
    }
    path += len + (end ? 1 : 0);
  }
  return false;
}

}  // namespace

void warn_if_untraceable(const char* file, bool search_path) {
  if (!file || !*file) return;
  char found[4096];
  const char* path = file;
  if (search_path && !strchr(file, '/')) {
    if (!find_in_path(file, found, sizeof(found))) return;
    path = found;
  }
  switch (judge(path)) {
    case Verdict::kStatic:
      warn("%s is statically linked: LD_PRELOAD cannot reach it, so its sockets are not traced", path);
      break;
    case Verdict::kSetid:
      warn("%s is setuid/setgid: the loader ignores LD_PRELOAD for it, so its sockets are not traced", path);
      break;
    default:
      break;
  }
}

}  // namespace connleak::shim
