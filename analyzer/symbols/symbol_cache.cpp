#include "symbols/symbol_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace connleak {
namespace {

// The first line of every cache file; a file that starts otherwise was
// written by another version and is neither read nor added to.
constexpr const char* kHeader = "connleak-symbols 1\n";
// A module's file stops growing here (one line per distinct address).
constexpr off_t kMaxFileBytes = 8 << 20;

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string unescape(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    char next = text[++i];
    out += next == 't' ? '\t' : next == 'n' ? '\n' : next;
  }
  return out;
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1) {
    fields.push_back(line.substr(start, tab - start));
  }
  fields.push_back(line.substr(start));
  return fields;
}

// "offset count (function file line inlined)*", tab-separated.
bool parse_line(const std::string& line, uint64_t& offset, std::vector<Frame>& frames) {
  std::vector<std::string> fields = split_tabs(line);
  if (fields.size() < 2) return false;
  char* end = nullptr;
  offset = std::strtoull(fields[0].c_str(), &end, 16);
  if (fields[0].empty() || *end) return false;
  size_t count = std::strtoul(fields[1].c_str(), &end, 10);
  if (fields[1].empty() || *end || count == 0 || fields.size() != 2 + 4 * count) return false;
  frames.clear();
  for (size_t i = 0; i < count; ++i) {
    const std::string* f = &fields[2 + 4 * i];
    Frame frame;
    frame.function = unescape(f[0]);
    frame.file = unescape(f[1]);
    frame.line = std::atoi(f[2].c_str());
    frame.inlined = f[3] == "1";
    frames.push_back(std::move(frame));
  }
  return true;
}

std::string format_line(uint64_t offset, const std::vector<Frame>& frames) {
  std::ostringstream line;
  line << std::hex << offset << std::dec << '\t' << frames.size();
  for (const Frame& f : frames) {
    line << '\t' << escape(f.function) << '\t' << escape(f.file) << '\t' << f.line << '\t' << (f.inlined ? 1 : 0);
  }
  line << '\n';
  return line.str();
}

bool make_directories(const std::string& path) {
  for (size_t slash = 1; slash != std::string::npos; slash = path.find('/', slash + 1)) {
    std::string prefix = path.substr(0, slash);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  return mkdir(path.c_str(), 0700) == 0 || errno == EEXIST;
}

// Every build of every program looked at gets a file: past kMaxFiles, the
// least recently written half goes (a rebuilt program's old builds first).
constexpr size_t kMaxFiles = 4096;

void prune(const std::string& directory) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  for (const auto& entry : fs::directory_iterator(directory, ec)) {
    if (entry.is_regular_file(ec)) files.emplace_back(entry.last_write_time(ec), entry.path());
  }
  if (files.size() <= kMaxFiles) return;
  std::sort(files.begin(), files.end());
  for (size_t i = 0; i < files.size() / 2; ++i) fs::remove(files[i].second, ec);
}

bool plain_hex(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

SymbolCache::SymbolCache(std::string directory) : directory_(std::move(directory)) {}

std::string SymbolCache::default_directory() {
  if (const char* chosen = std::getenv("CONNLEAK_SYMBOL_CACHE")) {
    std::string dir = chosen;
    return dir == "off" ? "" : dir;
  }
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && xdg[0] == '/') {
    return std::string(xdg) + "/connleak/symbols";
  }
  if (const char* home = std::getenv("HOME"); home && home[0] == '/') {
    return std::string(home) + "/.cache/connleak/symbols";
  }
  return "";
}

std::string SymbolCache::path_of(const std::string& build_id) const { return directory_ + "/" + build_id; }

SymbolCache::Entries& SymbolCache::entries_of(const std::string& build_id) {
  auto [it, fresh] = loaded_.try_emplace(build_id);
  if (!fresh || directory_.empty()) return it->second;
  std::ifstream file(path_of(build_id));
  std::string line;
  if (!std::getline(file, line) || line + "\n" != kHeader) return it->second;
  uint64_t offset = 0;
  std::vector<Frame> frames;
  while (std::getline(file, line)) {
    if (parse_line(line, offset, frames)) it->second.try_emplace(offset, frames);
  }
  return it->second;
}

std::optional<std::vector<Frame>> SymbolCache::find(const std::string& build_id, uint64_t offset) {
  if (!plain_hex(build_id)) return std::nullopt;
  Entries& entries = entries_of(build_id);
  auto it = entries.find(offset);
  if (it == entries.end()) return std::nullopt;
  return it->second;
}

void SymbolCache::store(const std::string& build_id, uint64_t offset, const std::vector<Frame>& frames) {
  if (!plain_hex(build_id) || frames.empty()) return;
  Entries& entries = entries_of(build_id);
  if (!entries.try_emplace(offset, frames).second || directory_.empty()) return;
  // Best effort: an unwritable cache only means the next report looks again.
  if (!make_directories(directory_)) return;
  std::string path = path_of(build_id);
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  struct stat st {};
  std::string text = format_line(offset, frames);
  if (fstat(fd, &st) == 0 && st.st_size < kMaxFileBytes) {
    if (st.st_size == 0) {
      text = kHeader + text;
      prune(directory_);
    }
    ssize_t ignored = write(fd, text.data(), text.size());  // one write: whole lines for concurrent readers
    (void)ignored;
  }
  close(fd);
}

}  // namespace connleak
