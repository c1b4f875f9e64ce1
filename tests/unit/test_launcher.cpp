// Launcher tests with real files and real processes: ELF files are crafted
// byte by byte (no compiler needed at test time), commands are /bin/sh.
#include <elf.h>
#include <link.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include "run/launcher.h"

using connleak::check_traceable;
using connleak::DescendantWait;
using connleak::launch_traced;
using connleak::LaunchError;
using connleak::LaunchOptions;
using connleak::LaunchResult;
using connleak::RunningProcess;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/connleak-launch-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

std::string write_file(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream(path, std::ios::binary) << content;
  REQUIRE(::chmod(path.c_str(), mode) == 0);
  return path;
}

template <class T>
void append(std::string& out, const T& value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// A minimal executable ELF: header, one PT_LOAD and, for a "dynamic" one, a
// PT_INTERP. Enough for the launcher's inspection, which never runs it.
template <class Ehdr, class Phdr>
std::string craft_elf(unsigned char elf_class, bool with_interp) {
  Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = elf_class;
  eh.e_ident[EI_DATA] = std::endian::native == std::endian::little ? ELFDATA2LSB : ELFDATA2MSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = elf_class == ELFCLASS64 ? EM_X86_64 : EM_386;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Ehdr);
  eh.e_ehsize = sizeof(Ehdr);
  eh.e_phentsize = sizeof(Phdr);
  eh.e_phnum = with_interp ? 2 : 1;
  std::string out;
  append(out, eh);
  Phdr load{};
  load.p_type = PT_LOAD;
  append(out, load);
  if (with_interp) {
    Phdr interp{};
    interp.p_type = PT_INTERP;
    append(out, interp);
  }
  return out;
}

std::string craft_elf64(bool with_interp) {
  return craft_elf<Elf64_Ehdr, Elf64_Phdr>(ELFCLASS64, with_interp);
}
std::string craft_elf32(bool with_interp) {
  return craft_elf<Elf32_Ehdr, Elf32_Phdr>(ELFCLASS32, with_interp);
}

std::string error_of(const std::string& program) {
  try {
    check_traceable(program);
  } catch (const LaunchError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string launch_error_of(const LaunchOptions& options) {
  try {
    launch_traced(options);
  } catch (const LaunchError& e) {
    return e.what();
  }
  return "(no error)";
}

// A genuine shared library of this process (libc), so that preloading it in
// the child is a no-op and ld.so prints no "cannot be preloaded" warning.
std::string loaded_libc_path() {
  std::string found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        std::string name = info->dlpi_name ? info->dlpi_name : "";
        if (name.find("/libc.so") == std::string::npos) return 0;
        *static_cast<std::string*>(data) = name;
        return 1;
      },
      &found);
  REQUIRE_FALSE(found.empty());
  return found;
}

// dir/NAME -> the real libc, so the child's LD_PRELOAD visibly names NAME.
std::string fake_shim(const TempDir& dir, const std::string& name = "libfake.so") {
  std::string path = dir / name;
  fs::create_symlink(loaded_libc_path(), path);
  return path;
}

LaunchResult run_sh(const std::string& script, const std::string& shim, const std::string& out) {
  return launch_traced(LaunchOptions{{"/bin/sh", "-c", script}, shim, out});
}

bool wait_for_file(const std::string& path, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!fs::exists(path)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Sets an environment variable for one scope, restoring the old value.
struct ScopedEnv {
  std::string name;
  std::string old;
  bool had;
  ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) {
    const char* v = ::getenv(name.c_str());
    had = v != nullptr;
    if (had) old = v;
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had)
      ::setenv(name.c_str(), old.c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

}  // namespace

// ---------------------------------------------------------------------------
// check_traceable
// ---------------------------------------------------------------------------

TEST_CASE("check_traceable accepts a dynamically linked program", "[launcher]") {
  CHECK(check_traceable("/bin/sh") == "/bin/sh");
}

TEST_CASE("check_traceable resolves a bare name through PATH", "[launcher]") {
  TempDir dir;
  write_file(dir / "mytool", "#!/bin/sh\nexit 0\n", 0755);
  ScopedEnv path("PATH", "/nonexistent-dir:" + dir.path + ":/bin:/usr/bin");
  CHECK(check_traceable("mytool") == dir / "mytool");
  CHECK(check_traceable("sh").ends_with("/sh"));
}

TEST_CASE("check_traceable reports a missing command", "[launcher]") {
  CHECK(error_of("nosuchcmd-connleak-test") == "nosuchcmd-connleak-test: command not found");
  CHECK(error_of("/nonexistent/prog") == "cannot run /nonexistent/prog: No such file or directory");
}

TEST_CASE("check_traceable rejects directories and non-executable files", "[launcher]") {
  TempDir dir;
  CHECK(error_of(dir.path) == "cannot run " + dir.path + ": Is a directory");
  std::string plain = write_file(dir / "plain", craft_elf64(true), 0644);
  CHECK(error_of(plain) == "cannot run " + plain + ": Permission denied");
}

TEST_CASE("check_traceable rejects statically linked ELF files", "[launcher]") {
  TempDir dir;
  std::string static64 = write_file(dir / "static64", craft_elf64(false), 0755);
  std::string static32 = write_file(dir / "static32", craft_elf32(false), 0755);
  CHECK(error_of(static64) ==
        "cannot trace " + static64 + ": statically linked, so LD_PRELOAD cannot reach it");
  CHECK(error_of(static32) ==
        "cannot trace " + static32 + ": statically linked, so LD_PRELOAD cannot reach it");
}

TEST_CASE("check_traceable accepts crafted ELF files with PT_INTERP", "[launcher]") {
  TempDir dir;
  std::string dyn64 = write_file(dir / "dyn64", craft_elf64(true), 0755);
  std::string dyn32 = write_file(dir / "dyn32", craft_elf32(true), 0755);
  CHECK(check_traceable(dyn64) == dyn64);
  CHECK(check_traceable(dyn32) == dyn32);
}

TEST_CASE("check_traceable rejects truncated ELF files", "[launcher]") {
  TempDir dir;
  std::string elf = craft_elf64(true);
  std::string cut = write_file(dir / "cut", elf.substr(0, sizeof(Elf64_Ehdr) + 8), 0755);
  CHECK(error_of(cut).find("malformed ELF file") != std::string::npos);
}

TEST_CASE("check_traceable rejects setuid and setgid programs", "[launcher]") {
  TempDir dir;
  std::string suid = dir / "suid-true";
  fs::copy_file("/bin/true", suid);
  REQUIRE(::chmod(suid.c_str(), 04755) == 0);
  CHECK(error_of(suid) ==
        "cannot trace " + suid + ": it is setuid; the dynamic loader ignores LD_PRELOAD for it");

  std::string sgid = dir / "sgid-true";
  fs::copy_file("/bin/true", sgid);
  REQUIRE(::chmod(sgid.c_str(), 02755) == 0);
  struct stat st {};
  REQUIRE(::stat(sgid.c_str(), &st) == 0);
  if (!(st.st_mode & S_ISGID)) return;  // not a member of the file's group: bit dropped
  CHECK(error_of(sgid) ==
        "cannot trace " + sgid + ": it is setgid; the dynamic loader ignores LD_PRELOAD for it");
}

TEST_CASE("check_traceable rejects files that are neither ELF nor scripts", "[launcher]") {
  TempDir dir;
  std::string text = write_file(dir / "text", "echo hello\n", 0755);
  CHECK(error_of(text) == "cannot run " + text + ": not an ELF executable or a #! script");
  std::string empty = write_file(dir / "empty", "", 0755);
  CHECK(error_of(empty) == "cannot run " + empty + ": not an ELF executable or a #! script");
}

TEST_CASE("check_traceable checks a script's interpreter", "[launcher]") {
  TempDir dir;
  std::string ok = write_file(dir / "ok.sh", "#!/bin/sh\nexit 0\n", 0755);
  CHECK(check_traceable(ok) == ok);
  std::string spaced = write_file(dir / "spaced.sh", "#!  /bin/sh  -e  \nexit 0\n", 0755);
  CHECK(check_traceable(spaced) == spaced);

  std::string static_interp = write_file(dir / "static-interp", craft_elf64(false), 0755);
  std::string bad = write_file(dir / "bad.sh", "#!" + static_interp + "\n", 0755);
  CHECK(error_of(bad) == bad + ": cannot trace " + static_interp +
                             ": statically linked, so LD_PRELOAD cannot reach it");

  std::string missing = write_file(dir / "missing.sh", "#!/nonexistent/interp\n", 0755);
  CHECK(error_of(missing) ==
        missing + ": cannot run /nonexistent/interp: No such file or directory");

  // A script may name another script as its interpreter; Linux follows such chains.
  std::string nested = write_file(dir / "nested", "#!" + ok + "\n", 0755);
  CHECK(check_traceable(nested) == nested);
}

TEST_CASE("check_traceable resolves #!/usr/bin/env NAME through PATH", "[launcher]") {
  if (!fs::exists("/usr/bin/env")) return;
  TempDir dir;
  std::string ok = write_file(dir / "env.sh", "#!/usr/bin/env sh\nexit 0\n", 0755);
  CHECK(check_traceable(ok) == ok);
  std::string split = write_file(dir / "split.sh", "#!/usr/bin/env -S sh -e\nexit 0\n", 0755);
  CHECK(check_traceable(split) == split);

  std::string unknown =
      write_file(dir / "unknown.sh", "#!/usr/bin/env nosuch-interp-connleak\n", 0755);
  CHECK(error_of(unknown) == unknown + ": nosuch-interp-connleak: command not found");

  write_file(dir / "static-interp", craft_elf64(false), 0755);
  ScopedEnv path("PATH", dir.path + ":/bin:/usr/bin");
  std::string stat = write_file(dir / "stat.sh", "#!/usr/bin/env static-interp\n", 0755);
  CHECK(error_of(stat) == stat + ": cannot trace " + (dir / "static-interp") +
                              ": statically linked, so LD_PRELOAD cannot reach it");

  std::string cleared = write_file(dir / "cleared.sh", "#!/usr/bin/env -i sh\n", 0755);
  CHECK(error_of(cleared).find("clears LD_PRELOAD") != std::string::npos);
}

// ---------------------------------------------------------------------------
// launch_traced
// ---------------------------------------------------------------------------

TEST_CASE("launch_traced returns the command's exit status", "[launcher]") {
  TempDir dir;
  std::string shim = fake_shim(dir);
  LaunchResult r = run_sh("exit 7", shim, dir.path);
  CHECK(r.exit_code == 7);
  CHECK_FALSE(r.signaled);
  CHECK(r.signal == 0);
}

TEST_CASE("launch_traced reports death by signal as 128+signal", "[launcher]") {
  TempDir dir;
  std::string shim = fake_shim(dir);
  // Also shows the child got SIGTERM at SIG_DFL and unblocked, whatever the
  // launcher did with it meanwhile.
  LaunchResult r = run_sh("kill -TERM $$; sleep 5; exit 1", shim, dir.path);
  CHECK(r.signaled);
  CHECK(r.signal == SIGTERM);
  CHECK(r.exit_code == 128 + SIGTERM);
}

TEST_CASE("launch_traced exports the shim and the output directory", "[launcher]") {
  TempDir dir;
  std::string shim = fake_shim(dir);
  std::string script = "test \"$CONNLEAK_OUTPUT_DIR\" = /tmp/x || exit 2; "
                       "case \"$LD_PRELOAD\" in *libfake.so*) ;; *) exit 3;; esac; "
                       "test \"$LD_PRELOAD\" = \"" + shim + "\" || exit 4; "
                       "test \"$KEEP_ME\" = kept || exit 5; exit 0";
  ScopedEnv unset_preload("LD_PRELOAD", "");
  ScopedEnv keep("KEEP_ME", "kept");
  CHECK(run_sh(script, shim, "/tmp/x").exit_code == 0);
}

TEST_CASE("launch_traced prepends the shim to an existing LD_PRELOAD", "[launcher]") {
  TempDir dir;
  std::string shim = fake_shim(dir);
  std::string other = fake_shim(dir, "libother.so");
  ScopedEnv preload("LD_PRELOAD", other);
  ScopedEnv outdir("CONNLEAK_OUTPUT_DIR", "/stale");
  std::string script = "test \"$LD_PRELOAD\" = \"" + shim + ":" + other + "\" || exit 2; "
                       "test \"$CONNLEAK_OUTPUT_DIR\" = \"" + dir.path + "\" || exit 3";
  CHECK(run_sh(script, shim, dir.path).exit_code == 0);
}

TEST_CASE("launch_traced rejects unusable shim paths", "[launcher]") {
  TempDir dir;
  std::string shim = fake_shim(dir);
  std::vector<std::string> argv{"/bin/true"};
  CHECK(launch_error_of({argv, dir / "missing.so", dir.path}).find("No such file") !=
        std::string::npos);
  std::string spaced = fake_shim(dir, "lib fake.so");
  CHECK(launch_error_of({argv, spaced, dir.path}).find("contains a space or ':'") !=
        std::string::npos);
  std::string colon = fake_shim(dir, "lib:fake.so");
  CHECK(launch_error_of({argv, colon, dir.path}).find("contains a space or ':'") !=
        std::string::npos);
  CHECK(launch_error_of({{}, shim, dir.path}) == "no command to run");
}

TEST_CASE("launch_traced reports exec failures", "[launcher]") {
  TempDir dir;
  std::string shim = fake_shim(dir);
  CHECK(launch_error_of({{"/nonexistent/prog"}, shim, dir.path}) ==
        "cannot run /nonexistent/prog: No such file or directory");
  CHECK(launch_error_of({{"nosuchcmd-connleak-test"}, shim, dir.path}) ==
        "nosuchcmd-connleak-test: command not found");
  std::string plain = write_file(dir / "plain", "#!/bin/sh\n", 0644);
  CHECK(launch_error_of({{plain}, shim, dir.path}) ==
        "cannot run " + plain + ": Permission denied");
}

TEST_CASE("launch_traced finds the command through PATH", "[launcher]") {
  TempDir dir;
  std::string shim = fake_shim(dir);
  write_file(dir / "mytool", "#!/bin/sh\nexit 5\n", 0755);
  ScopedEnv path("PATH", dir.path + ":/bin:/usr/bin");
  CHECK(launch_traced({{"mytool"}, shim, dir.path}).exit_code == 5);
}

TEST_CASE("launch_traced forwards a signal sent to this process", "[launcher]") {
  TempDir dir;
  std::string shim = fake_shim(dir);
  std::string marker = dir / "started";
  // Bounded loop: if forwarding failed the test ends with 9 instead of hanging.
  std::string script = "trap 'exit 42' TERM; : > " + marker +
                       "; i=0; while [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; exit 9";
  auto running = std::async(std::launch::async, [&] { return run_sh(script, shim, dir.path); });
  // The marker exists only once the child runs, so the forwarding handler is in place.
  REQUIRE(wait_for_file(marker, std::chrono::seconds(10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(::kill(::getpid(), SIGTERM) == 0);
  LaunchResult r = running.get();
  CHECK(r.exit_code == 42);
  CHECK_FALSE(r.signaled);
}

TEST_CASE("launch_traced restores handlers and mask, keeps the caller's ignored signals",
          "[launcher]") {
  TempDir dir;
  std::string shim = fake_shim(dir);
  struct sigaction ignore {}, caller_hup {}, caller_term {};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGHUP, &ignore, &caller_hup) == 0);
  REQUIRE(::sigaction(SIGTERM, nullptr, &caller_term) == 0);
  sigset_t mask_before, mask_after;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask_before);

  // A command started with SIGHUP ignored keeps it ignored, as with a plain exec.
  LaunchResult r = run_sh("kill -HUP $$; exit 3", shim, dir.path);

  struct sigaction hup_after {}, term_after {};
  ::sigaction(SIGHUP, &caller_hup, &hup_after);
  ::sigaction(SIGTERM, nullptr, &term_after);
  pthread_sigmask(SIG_SETMASK, nullptr, &mask_after);
  CHECK(r.exit_code == 3);
  CHECK(hup_after.sa_handler == SIG_IGN);
  CHECK(term_after.sa_handler == caller_term.sa_handler);
  CHECK(sigismember(&mask_after, SIGTERM) == sigismember(&mask_before, SIGTERM));
  CHECK(sigismember(&mask_after, SIGINT) == sigismember(&mask_before, SIGINT));
}

TEST_CASE("launch_traced reaps its child even when SIGCHLD is ignored", "[launcher]") {
  TempDir dir;
  std::string shim = fake_shim(dir);
  struct sigaction ignore {}, caller {};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGCHLD, &ignore, &caller) == 0);
  LaunchResult r = run_sh("exit 4", shim, dir.path);
  struct sigaction after {};
  ::sigaction(SIGCHLD, &caller, &after);
  CHECK(r.exit_code == 4);
  CHECK(after.sa_handler == SIG_IGN);
}

// ---------------------------------------------------------------------------
// launch_traced: what the command leaves running
// ---------------------------------------------------------------------------

namespace {

int subreaper_bit() {
  int bit = -1;
  ::prctl(PR_GET_CHILD_SUBREAPER, &bit, 0, 0, 0);
  return bit;
}

int read_pid(const std::string& path) {
  std::ifstream in(path);
  int pid = 0;
  in >> pid;
  return pid;
}

// What the launcher stopped waiting for is this process's child now.
void end_left_over(const LaunchResult& r) {
  for (const RunningProcess& p : r.still_running) {
    ::kill(p.pid, SIGKILL);
    ::waitpid(p.pid, nullptr, 0);
  }
}

}  // namespace

TEST_CASE("launch_traced waits for the processes the command left running", "[launcher]") {
  TempDir dir;
  std::string shim = fake_shim(dir);
  std::string marker = dir / "done";
  // The background job outlives the shell: the marker exists at return only
  // if the launcher waited for it, however long it took.
  bool noted = false;
  LaunchOptions options{{"/bin/sh", "-c", "(sleep 0.3; : > " + marker + ") & exit 3"}, shim, dir.path};
  options.on_waiting = [&](const LaunchResult& command, const std::vector<RunningProcess>&) {
    noted = command.exit_code == 3;
  };
  LaunchResult r = launch_traced(options);
  CHECK(r.exit_code == 3);
  CHECK(r.wait_end == DescendantWait::kAllEnded);
  CHECK(r.still_running.empty());
  CHECK(fs::exists(marker));
  CHECK(noted);
  CHECK(subreaper_bit() == 0);
}

TEST_CASE("launch_traced stops waiting at the timeout and names what still runs", "[launcher]") {
  TempDir dir;
  std::string shim = fake_shim(dir);
  std::string pidfile = dir / "pid";
  LaunchOptions options{{"/bin/sh", "-c", "sleep 300 & echo $! > " + pidfile + "; exit 6"}, shim, dir.path};
  options.descendant_timeout = std::chrono::milliseconds(0);
  bool noted = false;
  options.on_waiting = [&](const LaunchResult&, const std::vector<RunningProcess>&) { noted = true; };
  LaunchResult r = launch_traced(options);
  end_left_over(r);
  CHECK(r.exit_code == 6);
  CHECK(r.wait_end == DescendantWait::kTimeout);
  REQUIRE(r.still_running.size() == 1);
  CHECK(r.still_running[0].pid == read_pid(pidfile));
  CHECK_FALSE(noted);  // a zero timeout does not wait, so there is no wait to announce
  CHECK(subreaper_bit() == 0);
}

TEST_CASE("launch_traced ends the wait at a stop signal after the command exited", "[launcher]") {
  TempDir dir;
  std::string shim = fake_shim(dir);
  std::string pidfile = dir / "pid";
  LaunchOptions options{{"/bin/sh", "-c", "sleep 300 & echo $! > " + pidfile}, shim, dir.path};
  options.descendant_timeout = std::chrono::seconds(60);  // a failure ends as one, not as a hang
  std::promise<std::vector<RunningProcess>> waiting;
  std::future<std::vector<RunningProcess>> waiting_for = waiting.get_future();
  options.on_waiting = [&](const LaunchResult&, const std::vector<RunningProcess>& running) {
    waiting.set_value(running);
  };
  auto launched = std::async(std::launch::async, [&] { return launch_traced(options); });
  REQUIRE(waiting_for.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  std::vector<RunningProcess> announced = waiting_for.get();
  // The forwarding handler is in place for as long as the wait lasts.
  REQUIRE(::kill(::getpid(), SIGTERM) == 0);
  LaunchResult r = launched.get();
  end_left_over(r);
  int sleeper = read_pid(pidfile);
  REQUIRE(announced.size() == 1);
  CHECK(announced[0].pid == sleeper);
  CHECK(r.exit_code == 0);
  CHECK(r.wait_end == DescendantWait::kSignal);
  CHECK(r.stop_signal == SIGTERM);
  REQUIRE(r.still_running.size() == 1);
  CHECK(r.still_running[0].pid == sleeper);
}
