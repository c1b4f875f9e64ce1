// Which Debian packages own the modules whose frames have no symbols, so
// the report can say what to install to get function names and lines.
#include "symbols/debug_symbols.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace connleak {
namespace {

namespace fs = std::filesystem;

constexpr size_t kManyFrames = 3;  // fewer: the stacks still read well

// The modules of the reported frames that have no function name, with how
// many such frames each has.
std::map<std::string, size_t> modules_without_symbols(const Report& report) {
  std::map<std::string, size_t> modules;
  for (const Finding& finding : report.findings)
    for (const Frame& frame : finding.stack)
      if (frame.function.empty() && !frame.module.empty()) ++modules[frame.module];
  return modules;
}

// Debian's package lists (dpkg -S without a process): the package whose
// list names `path`, also as its /usr-merged twin.
std::map<std::string, std::string> owning_packages(const std::set<std::string>& paths,
                                                   const std::string& dpkg_info) {
  std::map<std::string, std::string> wanted;  // a spelling dpkg may use -> the module path
  for (const std::string& path : paths) {
    wanted[path] = path;
    if (path.rfind("/usr/", 0) == 0) wanted[path.substr(4)] = path;
    std::error_code ec;
    fs::path canonical = fs::canonical(path, ec);
    if (!ec) wanted[canonical.string()] = path;
  }
  std::map<std::string, std::string> owners;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dpkg_info, ec)) {
    if (entry.path().extension() != ".list") continue;
    std::ifstream list(entry.path());
    for (std::string line; std::getline(list, line);) {
      auto it = wanted.find(line);
      if (it == wanted.end()) continue;
      std::string package = entry.path().stem().string();
      owners.emplace(it->second, package.substr(0, package.find(':')));  // "libc6:amd64"
    }
    if (owners.size() == paths.size()) break;
  }
  return owners;
}

}  // namespace

std::string debug_symbols_hint(const Report& report, const std::string& dpkg_info) {
  std::map<std::string, size_t> modules = modules_without_symbols(report);
  size_t frames = 0;
  std::set<std::string> paths;
  for (const auto& [module, count] : modules) {
    frames += count;
    paths.insert(module);
  }
  if (frames < kManyFrames) return "";
  std::map<std::string, std::string> owners = owning_packages(paths, dpkg_info);
  std::set<std::string> packages;
  for (const auto& [module, package] : owners) packages.insert(package + "-dbgsym");
  std::string line = std::to_string(frames) + " frames have no symbols (in";
  for (const std::string& path : paths) line += " " + path;
  line += ")";
  if (packages.empty()) return line + "; debug information for those files would name them";
  line += "; their debug symbols would name them:";
  for (const std::string& package : packages) line += " " + package;
  return line + " (Debian's debian-debug archive)";
}

}  // namespace connleak
