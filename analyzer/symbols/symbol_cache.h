// A cache of symbolized addresses that outlives one report, keyed by the
// module's build-id: the same build of a library names the same functions
// and lines at the same offsets, wherever it is installed. Opening a
// module's DWARF is what a report pays for (elfutils decompresses all of a
// compressed debug file, 40 ms for libc6-dbg's), and CI runs the same few
// binaries report after report.
//
// One file per build-id under the cache directory, one line per offset,
// appended with a single write (O_APPEND), so concurrent reports can share
// it; a line that does not parse (a report killed mid-write) is skipped.
// An address nothing could name is not kept, so debug information or
// symbols that turn up later (a -dbg package, an unstripped twin of a
// stripped build) are used at once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "symbols/symbolizer.h"

namespace connleak {

class SymbolCache {
 public:
  // `directory` empty: nothing is kept beyond this process.
  explicit SymbolCache(std::string directory);

  // The cache directory for this user: $CONNLEAK_SYMBOL_CACHE ("off" or
  // empty: none), else $XDG_CACHE_HOME/connleak/symbols, else
  // ~/.cache/connleak/symbols.
  static std::string default_directory();

  // The frames stored for `offset` (Frame::module_offset of the looked-up
  // address) in the module `build_id` (hex), with only the source-level
  // fields set (function, file, line, inlined).
  std::optional<std::vector<Frame>> find(const std::string& build_id, uint64_t offset);
  void store(const std::string& build_id, uint64_t offset, const std::vector<Frame>& frames);

 private:
  using Entries = std::map<uint64_t, std::vector<Frame>>;
  Entries& entries_of(const std::string& build_id);
  std::string path_of(const std::string& build_id) const;

  std::string directory_;
  std::map<std::string, Entries> loaded_;  // by build-id
};

}  // namespace connleak
