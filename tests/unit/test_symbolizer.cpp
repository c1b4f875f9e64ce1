// Symbolizer tests against the test executable itself: the modules are taken
// from this process with dl_iterate_phdr, just as the preload shim records
// them, so the addresses are real runtime addresses.
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <catch2/catch.hpp>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "symbols/symbolizer.h"

using connleak::Frame;
using connleak::ModuleInfo;
using connleak::Symbolizer;

namespace {

// The line of the call under test, set by the code on that very line.
int g_call_line = 0;
int g_inline_call_line = 0;
int g_inlined_body_line = 0;

// Returns its own return address, which points just after the call to it.
__attribute__((noinline)) uintptr_t capture_return_address() {
  auto ra = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  asm volatile("" ::: "memory");  // keep the call a real call
  return ra;
}

std::string self_exe() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// The GNU build-id from a loaded object's PT_NOTE segments.
std::string build_id_of(const dl_phdr_info* info) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    const size_t align = ph.p_align > 4 ? ph.p_align : 4;
    auto round = [align](size_t n) { return (n + align - 1) & ~(align - 1); };
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const char* name = p + sizeof(ElfW(Nhdr));
      const char* desc = name + round(note->n_namesz);
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
          std::string(name, 3) == "GNU") {
        return std::string(desc, note->n_descsz);
      }
      p = desc + round(note->n_descsz);
    }
  }
  return {};
}

int add_module(dl_phdr_info* info, size_t, void* data) {
  auto* modules = static_cast<std::vector<ModuleInfo>*>(data);
  ModuleInfo m;
  // The main program comes first, with an empty name.
  m.path = (modules->empty() && info->dlpi_name[0] == '\0') ? self_exe() : info->dlpi_name;
  if (m.path.empty()) return 0;
  m.bias = info->dlpi_addr;
  m.low = UINT64_MAX;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    m.low = std::min<uint64_t>(m.low, info->dlpi_addr + ph.p_vaddr);
    m.high = std::max<uint64_t>(m.high, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
  }
  if (m.high == 0) return 0;
  m.build_id = build_id_of(info);
  modules->push_back(std::move(m));
  return 0;
}

std::vector<ModuleInfo> self_modules() {
  std::vector<ModuleInfo> modules;
  dl_iterate_phdr(add_module, &modules);
  return modules;
}

const ModuleInfo* module_for(const std::vector<ModuleInfo>& modules, uint64_t addr) {
  for (const ModuleInfo& m : modules) {
    if (addr >= m.low && addr < m.high) return &m;
  }
  return nullptr;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Inlined even at -O0, so DWARF describes it as a DW_TAG_inlined_subroutine.
__attribute__((always_inline)) inline uintptr_t inlined_capture() {
  g_inlined_body_line = __LINE__; uintptr_t ra = capture_return_address();
  asm volatile("" ::: "memory");
  return ra;
}

}  // namespace

// A named namespace, so the demangled name is qualified.
namespace connleak_symtest {

// noclone: an IPA clone would still symbolize, but as "func(int) [clone ...]".
__attribute__((noinline, noclone)) uintptr_t func(int x) {
  g_call_line = __LINE__; uintptr_t ra = capture_return_address();
  asm volatile("" : : "r"(x) : "memory");  // after the call: no tail call
  return ra;
}

__attribute__((noinline, noclone)) uintptr_t outer_with_inline() {
  g_inline_call_line = __LINE__; uintptr_t ra = inlined_capture();
  asm volatile("" ::: "memory");
  return ra;
}

}  // namespace connleak_symtest

TEST_CASE("symbolizer resolves a return address in the test executable", "[symbolizer]") {
  const std::vector<ModuleInfo> modules = self_modules();
  REQUIRE_FALSE(modules.empty());
  const uintptr_t ra = connleak_symtest::func(42);

  Symbolizer symbolizer("");  // no cache beyond this test
  const std::vector<Frame> frames = symbolizer.symbolize(modules, ra, true);
  REQUIRE(frames.size() == 1);
  const Frame& f = frames[0];
  CHECK(f.address == ra - 1);
  CHECK(f.module == self_exe());
  CHECK(f.function.find("connleak_symtest::func") != std::string::npos);
  CHECK(f.function.find("(int)") != std::string::npos);  // demangled signature
  CHECK(ends_with(f.file, "test_symbolizer.cpp"));
  CHECK(f.line == g_call_line);
  CHECK_FALSE(f.inlined);
  CHECK(symbolizer.warnings().empty());

  // A second lookup is served from the cache and gives the same answer.
  const std::vector<Frame> again = symbolizer.symbolize(modules, ra, true);
  REQUIRE(again.size() == 1);
  CHECK(again[0].function == f.function);
  CHECK(again[0].line == f.line);
}

TEST_CASE("symbolizer expands inlined frames", "[symbolizer]") {
  const std::vector<ModuleInfo> modules = self_modules();
  const uintptr_t ra = connleak_symtest::outer_with_inline();

  Symbolizer symbolizer("");  // no cache beyond this test
  const std::vector<Frame> frames = symbolizer.symbolize(modules, ra, true);
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].function.find("inlined_capture") != std::string::npos);
  CHECK(frames[0].line == g_inlined_body_line);
  CHECK(frames[0].inlined);
  CHECK(frames[1].function.find("connleak_symtest::outer_with_inline") != std::string::npos);
  CHECK(ends_with(frames[1].file, "test_symbolizer.cpp"));
  CHECK(frames[1].line == g_inline_call_line);
  CHECK_FALSE(frames[1].inlined);
  CHECK(frames[1].address == frames[0].address);
}

TEST_CASE("symbolizer resolves a shared library function", "[symbolizer]") {
  const std::vector<ModuleInfo> modules = self_modules();
  void* close_addr = dlsym(RTLD_DEFAULT, "close");
  REQUIRE(close_addr != nullptr);
  const auto addr = reinterpret_cast<uint64_t>(close_addr);
  const ModuleInfo* lib = module_for(modules, addr);
  REQUIRE(lib != nullptr);
  REQUIRE(lib->path != self_exe());

  Symbolizer symbolizer("");  // no cache beyond this test
  const std::vector<Frame> frames = symbolizer.symbolize(modules, addr, false);
  REQUIRE_FALSE(frames.empty());
  CHECK(frames.back().address == addr);
  CHECK(frames.back().module == lib->path);
  // libc may lack debuginfo; its symbol table still names the function
  // (close, __close or __libc_close).
  CHECK(frames.back().function.find("close") != std::string::npos);
}

TEST_CASE("symbolizer handles addresses outside every module", "[symbolizer]") {
  const std::vector<ModuleInfo> modules = self_modules();
  Symbolizer symbolizer("");  // no cache beyond this test
  const std::vector<Frame> frames = symbolizer.symbolize(modules, 0x10, false);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].address == 0x10);
  CHECK(frames[0].module.empty());
  CHECK(frames[0].function.empty());
  CHECK(frames[0].file.empty());
  CHECK(frames[0].line == 0);
}

TEST_CASE("symbolizer survives a missing module file", "[symbolizer]") {
  ModuleInfo missing;
  missing.path = "/nonexistent/connleak/libmissing.so";
  missing.bias = 0x7f0000000000;
  missing.low = 0x7f0000000000;
  missing.high = 0x7f0000010000;
  Symbolizer symbolizer("");  // no cache beyond this test
  for (int i = 0; i < 2; ++i) {
    const std::vector<Frame> frames = symbolizer.symbolize({missing}, 0x7f0000001235, true);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].address == 0x7f0000001234);
    CHECK(frames[0].module == missing.path);
    CHECK(frames[0].function.empty());
    CHECK(frames[0].line == 0);
  }
  CHECK(symbolizer.warnings().size() == 1);  // warned once, not per lookup
}

TEST_CASE("symbolizer distrusts a file whose build-id changed", "[symbolizer]") {
  std::vector<ModuleInfo> modules = self_modules();
  REQUIRE_FALSE(modules[0].build_id.empty());  // needs a linker that emits one
  modules[0].build_id[0] = static_cast<char>(modules[0].build_id[0] ^ 0xff);
  const uintptr_t ra = connleak_symtest::func(1);

  Symbolizer symbolizer("");  // no cache beyond this test
  for (int i = 0; i < 2; ++i) {
    const std::vector<Frame> frames = symbolizer.symbolize(modules, ra, true);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].module == modules[0].path);
    CHECK(frames[0].function.empty());
    CHECK(frames[0].line == 0);
  }
  REQUIRE(symbolizer.warnings().size() == 1);
  CHECK(symbolizer.warnings()[0].find("build-id mismatch") != std::string::npos);
  CHECK(symbolizer.warnings()[0].find(modules[0].path) != std::string::npos);
}

TEST_CASE("symbolizer keeps DWARF answers for later reports, by build-id", "[symbolizer]") {
  char dir_template[] = "/tmp/connleak-symcache-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template;
  std::vector<ModuleInfo> modules = self_modules();
  REQUIRE_FALSE(modules[0].build_id.empty());
  const uintptr_t ra = connleak_symtest::func(7);
  std::vector<Frame> first;
  {
    Symbolizer symbolizer(dir);
    first = symbolizer.symbolize(modules, ra, true);
    REQUIRE(first.size() == 1);
    REQUIRE(first[0].line == g_call_line);
  }
  std::string hex;
  for (unsigned char byte : modules[0].build_id) {
    static const char* const kHex = "0123456789abcdef";
    hex += kHex[byte >> 4];
    hex += kHex[byte & 15];
  }
  const std::string file = dir + "/" + hex;
  REQUIRE(std::filesystem::exists(file));
  std::ofstream(file, std::ios::app) << "zz\tnot a line\n1\t2\n";  // a torn or foreign line is skipped

  // The same build, its file gone: only the cache can name the frame.
  modules[0].path = "/nonexistent/connleak/moved-away";
  Symbolizer later(dir);
  const std::vector<Frame> again = later.symbolize(modules, ra, true);
  REQUIRE(again.size() == 1);
  CHECK(again[0].function == first[0].function);
  CHECK(again[0].file == first[0].file);
  CHECK(again[0].line == first[0].line);
  CHECK(again[0].module == modules[0].path);
  CHECK(again[0].address == ra - 1);
  CHECK(later.warnings().empty());
  std::filesystem::remove_all(dir);
}
