// What `run` and `watch -- COMMAND` share to start a traced command: where
// the shim is, where traces go, and the exit code of a command that could
// not be started.
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "commands.h"
#include "run/launcher.h"
#include "version.h"

namespace connleak::cli {

namespace fs = std::filesystem;

// The shim sits at a fixed place relative to this binary, in the build tree
// and after `cmake --install` alike.
fs::path find_shim() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw LaunchError("cannot find connleak's own location: " + ec.message());
  fs::path shim = fs::weakly_canonical(self.parent_path() / CONNLEAK_SHIM_RELATIVE_PATH, ec);
  if (ec || !fs::exists(shim)) {
    throw LaunchError("the shim is missing: expected " + (self.parent_path() / CONNLEAK_SHIM_RELATIVE_PATH).string());
  }
  return shim;
}

// A fresh directory under the current one: connleak-YYYYmmdd-HHMMSS-<pid>.
// Traces show what programs did and talked to: directories connleak
// creates are the user's alone (0700).
fs::path make_output_dir(const std::string& requested) {
  std::error_code ec;
  if (!requested.empty()) {
    bool existed = fs::exists(requested, ec);
    fs::create_directories(requested, ec);
    if (ec) throw LaunchError("cannot create output directory " + requested + ": " + ec.message());
    if (!existed) fs::permissions(requested, fs::perms::owner_all, ec);
    return fs::absolute(requested);
  }
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::localtime(&now));
  fs::path dir = fs::absolute("connleak-" + std::string(stamp) + "-" + std::to_string(getpid()));
  if (!fs::create_directory(dir, ec) || ec) {
    throw LaunchError("cannot create output directory " + dir.string() + ": " +
                      (ec ? ec.message() : "it already exists"));
  }
  fs::permissions(dir, fs::perms::owner_all, ec);
  return dir;
}

int launch_exit_code(const std::string& message) {
  if (message.find("command not found") != std::string::npos ||
      message.find("No such file or directory") != std::string::npos) {
    return kExitNotFound;
  }
  if (message.starts_with("cannot run")) return kExitCannotRun;
  return kExitToolError;
}

}  // namespace connleak::cli
