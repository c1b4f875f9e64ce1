// Offline symbolization with elfutils libdwfl.
//
// Each distinct module (path + load bias + build-id) gets its own Dwfl
// session, opened on first use and kept for the Symbolizer's lifetime: the
// analyzer resolves thousands of frames, mostly in the same few modules, and
// opening an ELF file plus its separate debuginfo is the expensive part.
// A session per module (rather than one for all) keeps unrelated traces'
// modules from ever overlapping in one address space.
#include "symbols/symbolizer.h"

#include "symbols/symbol_cache.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

namespace connleak {
namespace {

// dwfl_standard_find_debuginfo reads the search path through this pointer;
// null selects the default (/usr/lib/debug, .debug next to the file, build-id
// links). It must outlive every Dwfl, hence static.
char* g_debuginfo_path = nullptr;

const Dwfl_Callbacks kOfflineCallbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &g_debuginfo_path,
};

struct DwflCloser {
  void operator()(Dwfl* dwfl) const { dwfl_end(dwfl); }
};
using DwflPtr = std::unique_ptr<Dwfl, DwflCloser>;

// Only "_Z" names are mangled: __cxa_demangle would also "demangle" a plain C
// name such as "i" as a type ("int").
std::string demangle(const char* name) {
  if (name == nullptr) return {};
  if (std::strncmp(name, "_Z", 2) != 0) return name;
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string result = (status == 0 && out != nullptr) ? out : name;
  std::free(out);
  return result;
}

// DWARF may name files relative to the compilation directory.
std::string join_comp_dir(const char* file, const char* comp_dir) {
  if (file == nullptr) return {};
  if (file[0] == '/' || comp_dir == nullptr || comp_dir[0] == '\0') return file;
  std::string joined = comp_dir;
  if (joined.back() != '/') joined += '/';
  return joined + file;
}

bool is_function_scope(Dwarf_Die* die) {
  const int tag = dwarf_tag(die);
  return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine ||
         tag == DW_TAG_entry_point;
}

// The linkage name gives the qualified signature ("ns::f(int)"); DW_AT_name
// alone is unqualified. dwarf_attr_integrate follows abstract_origin and
// specification, so inlined instances and out-of-line clones resolve too.
std::string die_function_name(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  const char* linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
  if (linkage == nullptr) {
    linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
  }
  if (linkage != nullptr) return demangle(linkage);
  const char* name = dwarf_diename(die);
  return name != nullptr ? name : "";
}

// Copies a malloc'd scope array returned by libdw into a vector and frees it.
std::vector<Dwarf_Die> take_scopes(Dwarf_Die* raw, int count) {
  std::vector<Dwarf_Die> scopes;
  if (raw != nullptr && count > 0) scopes.assign(raw, raw + count);
  std::free(raw);
  return scopes;
}

// The concrete scope nesting at `pc`, innermost first. dwarf_getscopes also
// descends into an inlined function's abstract definition, so (like
// eu-addr2line -i) we re-walk from its innermost DIE with dwarf_getscopes_die,
// which yields only the concrete parents: the inlined_subroutine chain.
std::vector<Dwarf_Die> concrete_scopes(Dwarf_Die* cudie, Dwarf_Addr pc) {
  Dwarf_Die* raw = nullptr;
  std::vector<Dwarf_Die> scopes = take_scopes(raw, dwarf_getscopes(cudie, pc, &raw));
  if (scopes.empty()) return scopes;
  Dwarf_Die innermost = scopes.front();
  raw = nullptr;
  return take_scopes(raw, dwarf_getscopes_die(&innermost, &raw));
}

// An inlined_subroutine's call site: where the frame that contains it is.
void set_call_site(Dwarf_Die* inlined, Dwarf_Files* files, const char* comp_dir, Frame& frame) {
  Dwarf_Attribute attr;
  Dwarf_Word value = 0;
  if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attr), &value) == 0) {
    frame.line = static_cast<int>(value);
  }
  if (files != nullptr &&
      dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &value) == 0) {
    frame.file = join_comp_dir(dwarf_filesrc(files, value, nullptr, nullptr), comp_dir);
  }
}

// One frame per function scope from DWARF, innermost first, with names and
// call sites; the innermost frame's line is filled in later from the line
// table. Empty when the module has no DWARF for `addr`.
std::vector<Frame> dwarf_frames(Dwfl_Module* mod, Dwarf_Addr addr, const Frame& base) {
  Dwarf_Addr dwarf_bias = 0;
  Dwarf_Die* cudie = dwfl_module_addrdie(mod, addr, &dwarf_bias);
  if (cudie == nullptr) return {};

  std::vector<Dwarf_Die> functions;
  for (Dwarf_Die& scope : concrete_scopes(cudie, addr - dwarf_bias)) {
    if (is_function_scope(&scope)) functions.push_back(scope);
  }

  Dwarf_Files* files = nullptr;
  if (dwarf_getsrcfiles(cudie, &files, nullptr) != 0) files = nullptr;
  Dwarf_Attribute attr;
  const char* comp_dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &attr));

  std::vector<Frame> frames;
  for (size_t i = 0; i < functions.size(); ++i) {
    Frame frame = base;
    frame.function = die_function_name(&functions[i]);
    frame.inlined = dwarf_tag(&functions[i]) == DW_TAG_inlined_subroutine;
    if (i > 0) set_call_site(&functions[i - 1], files, comp_dir, frame);
    frames.push_back(std::move(frame));
  }
  return frames;
}

// The line table knows the exact line of `addr` itself (the innermost frame).
void set_line_from_table(Dwfl_Module* mod, Dwarf_Addr addr, Frame& frame) {
  Dwfl_Line* line = dwfl_module_getsrc(mod, addr);
  if (line == nullptr) return;
  int lineno = 0;
  const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr);
  if (file == nullptr) return;
  frame.file = join_comp_dir(file, dwfl_line_comp_dir(line));
  frame.line = lineno;
}

std::vector<Frame> describe(Dwfl_Module* mod, Dwarf_Addr addr, const Frame& base) {
  std::vector<Frame> frames = dwarf_frames(mod, addr, base);
  if (frames.empty()) frames.push_back(base);
  set_line_from_table(mod, addr, frames.front());
  // The outermost frame is the function the code really belongs to, so the
  // ELF symbol table can name it when DWARF cannot (stripped or no debuginfo).
  Frame& outermost = frames.back();
  if (outermost.function.empty()) outermost.function = demangle(dwfl_module_addrname(mod, addr));
  return frames;
}

// Compares the file's build-id with the one recorded in the trace. A file
// without a build-id, or a trace without one, cannot be checked: trust it.
bool build_id_matches(Dwfl_Module* mod, const std::string& expected) {
  if (expected.empty()) return true;
  GElf_Addr elf_bias = 0;
  dwfl_module_getelf(mod, &elf_bias);  // build-id is only known once the ELF is loaded
  const unsigned char* bits = nullptr;
  GElf_Addr vaddr = 0;
  const int len = dwfl_module_build_id(mod, &bits, &vaddr);
  if (len <= 0 || bits == nullptr) return true;
  return expected.size() == static_cast<size_t>(len) &&
         std::memcmp(expected.data(), bits, expected.size()) == 0;
}

const ModuleInfo* find_module(const std::vector<ModuleInfo>& modules, uint64_t addr) {
  for (const ModuleInfo& m : modules) {
    if (addr >= m.low && addr < m.high) return &m;
  }
  return nullptr;
}

std::string module_key(const ModuleInfo& info) {
  return info.path + '\0' + std::to_string(info.bias) + '\0' + info.build_id;
}

// Frames from the persistent cache, placed at this address of this module.
std::vector<Frame> placed(std::vector<Frame> frames, const Frame& base) {
  for (Frame& f : frames) {
    f.address = base.address;
    f.module = base.module;
    f.module_offset = base.module_offset;
    f.build_id = base.build_id;
  }
  return frames;
}

}  // namespace

struct Symbolizer::Impl {
  // One opened module. `mod` is null when the file is unusable (missing,
  // not ELF, or a different build): such modules are remembered too, so
  // they are tried, and warned about, only once.
  struct OpenModule {
    DwflPtr dwfl;
    Dwfl_Module* mod = nullptr;
    std::unordered_map<uint64_t, std::vector<Frame>> cache;  // by adjusted address
  };

  explicit Impl(std::string cache_directory) : persistent(std::move(cache_directory)) {}

  std::map<std::string, OpenModule> modules;
  SymbolCache persistent;  // across reports, by build-id
  std::vector<std::string> warnings;
  std::set<std::string> warned;

  void warn(const std::string& message) {
    if (warned.insert(message).second) warnings.push_back(message);
  }

  OpenModule& open(const ModuleInfo& info);
};

Symbolizer::Impl::OpenModule& Symbolizer::Impl::open(const ModuleInfo& info) {
  auto [it, inserted] = modules.try_emplace(module_key(info));
  OpenModule& open_module = it->second;
  if (!inserted) return open_module;

  DwflPtr dwfl(dwfl_begin(&kOfflineCallbacks));
  if (!dwfl) {
    warn("cannot start libdwfl for " + info.path + ": " + dwfl_errmsg(-1));
    return open_module;
  }
  dwfl_report_begin(dwfl.get());
  // With add_p_vaddr=true the base is the load bias (dlpi_addr): elfutils
  // maps each segment at bias + p_vaddr, exactly as the dynamic loader did.
  // For ET_EXEC files the base is ignored and the bias is 0.
  Dwfl_Module* mod = dwfl_report_elf(dwfl.get(), info.path.c_str(), info.path.c_str(), -1,
                                     info.bias, true);
  dwfl_report_end(dwfl.get(), nullptr, nullptr);
  if (mod == nullptr) {
    warn("cannot open " + info.path + ": " + dwfl_errmsg(-1));
    return open_module;
  }
  if (!build_id_matches(mod, info.build_id)) {
    warn("build-id mismatch for " + info.path + ": file changed since the trace was recorded");
    return open_module;  // dwfl closes here; the module stays unusable
  }
  open_module.dwfl = std::move(dwfl);
  open_module.mod = mod;
  return open_module;
}

Symbolizer::Symbolizer() : Symbolizer(SymbolCache::default_directory()) {}
Symbolizer::Symbolizer(std::string cache_directory) : impl_(std::make_unique<Impl>(std::move(cache_directory))) {}
Symbolizer::~Symbolizer() = default;

std::vector<Frame> Symbolizer::symbolize(const std::vector<ModuleInfo>& modules,
                                         uint64_t address, bool return_address) {
  Frame base;
  // A return address points after the call; the call itself is one byte back.
  base.address = (return_address && address > 0) ? address - 1 : address;
  const ModuleInfo* info = find_module(modules, base.address);
  if (info == nullptr) return {base};
  base.module = info->path;
  base.module_offset = base.address - info->bias;
  static const char* const kHex = "0123456789abcdef";
  for (unsigned char byte : info->build_id) {
    base.build_id += kHex[byte >> 4];
    base.build_id += kHex[byte & 15];
  }
  try {
    // The build-id the trace recorded names the build that ran, even if the
    // file on disk has changed since.
    if (auto known = impl_->persistent.find(base.build_id, base.module_offset)) return placed(*known, base);
    Impl::OpenModule& open_module = impl_->open(*info);
    if (open_module.mod == nullptr) return {base};
    auto cached = open_module.cache.find(base.address);
    if (cached != open_module.cache.end()) return cached->second;
    std::vector<Frame> frames = describe(open_module.mod, base.address, base);
    open_module.cache.emplace(base.address, frames);
    // What names nothing is not kept: debug information or symbols found
    // later (a -dbg package installed, an unstripped twin) are then used.
    bool named = std::any_of(frames.begin(), frames.end(), [](const Frame& f) { return !f.function.empty() || f.line > 0; });
    if (named) impl_->persistent.store(base.build_id, base.module_offset, frames);
    return frames;
  } catch (...) {
    // Symbolization is best effort: report what is known instead.
    return {base};
  }
}

const std::vector<std::string>& Symbolizer::warnings() const { return impl_->warnings; }

}  // namespace connleak
