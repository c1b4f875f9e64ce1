// Offline symbolizer: turns addresses recorded in a traced process into
// function/file/line, using the ELF files and DWARF (via elfutils libdwfl)
// of the modules that were mapped in that process.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace connleak {

// One ELF object as it was mapped in the traced process.
struct ModuleInfo {
  std::string path;      // absolute path of the file as the process saw it
  uint64_t bias = 0;     // load bias (dl_iterate_phdr's dlpi_addr; 0 for non-PIE executables)
  uint64_t low = 0;      // lowest mapped address (bias + min PT_LOAD p_vaddr)
  uint64_t high = 0;     // one past the highest mapped address
  std::string build_id;  // raw GNU build-id bytes (may be empty)
};

struct Frame {
  uint64_t address = 0;  // the looked-up address (already adjusted, see below)
  std::string function;  // demangled, "" when unknown
  std::string file;      // source file path as in DWARF, "" when unknown
  int line = 0;          // 0 when unknown
  std::string module;    // ModuleInfo::path, "" when the address is in no module
  bool inlined = false;  // true for a frame that was inlined into the next one
  uint64_t module_offset = 0;  // address - load bias: what addr2line -e module takes
  std::string build_id;        // the module's GNU build-id, hex ("" if unknown)
};

class Symbolizer {
 public:
  // Keeps what it looks up in SymbolCache::default_directory(), for later
  // reports; the second form names the directory ("" for none).
  Symbolizer();
  explicit Symbolizer(std::string cache_directory);
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Symbolizes one stack frame of a process whose modules are `modules`.
  // `return_address` is true for frames that are return addresses (look up
  // address-1 so the calling line is found; Frame::address is then address-1).
  // Returns one Frame per source-level function, innermost first: several when
  // the code at that address was inlined, else exactly one.
  // Never throws for missing files or debug info: returns a Frame with what is
  // known (module path and address at least).
  std::vector<Frame> symbolize(const std::vector<ModuleInfo>& modules, uint64_t address,
                               bool return_address);

  // Warnings collected so far (unreadable files, build-id mismatches), each
  // once per module; the caller logs them.
  const std::vector<std::string>& warnings() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace connleak
