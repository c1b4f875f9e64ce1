// Which traced processes are still running: a trace without an end record
// whose pid names, right now, the process that wrote it (it started no
// later than the trace did; a pid reused since started after). Such a
// process is judged live, not as if it had ended.
#include "running.h"

#include <time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace connleak {
namespace {

uint64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

// When the process now at `pid` started, as wall-clock ns; 0 when none.
uint64_t start_of_pid(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t comm_end = text.rfind(')');
  if (comm_end == std::string::npos) return 0;
  std::istringstream fields(text.substr(comm_end + 2));
  std::string field;
  for (int i = 3; i < 22 && fields >> field; ++i) {
  }
  unsigned long long ticks = 0;
  if (!(fields >> ticks)) return 0;
  long hz = sysconf(_SC_CLK_TCK);
  uint64_t since_boot = ticks * (1'000'000'000ull / uint64_t(hz > 0 ? hz : 100));
  uint64_t boot_real = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
  return boot_real + since_boot;
}

// A process's start, in ticks, and the clocks read at two moments: allow
// a few ticks.
constexpr uint64_t kSlackNs = 500'000'000;

}  // namespace

void mark_running_processes(Model& model) {
  for (ProcessLife& p : model.processes) {
    if (p.end != ProcessEnd::kUnknown) continue;
    uint64_t started = start_of_pid(p.pid);
    if (started == 0 || started > p.start_real_ns + kSlackNs) continue;  // gone, or a new process
    p.end = ProcessEnd::kRunning;
  }
}

}  // namespace connleak
