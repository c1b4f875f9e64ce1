// Writes trace files record by record with the shim's real TraceWriter, so
// tests of the reader, the model and the detectors start from exactly the
// bytes the shim would produce.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "connleak/trace_format.h"
#include "trace_writer.h"

namespace connleak::testing {

// A fresh temporary directory, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

sockaddr_in loopback(uint16_t port);

class TraceBuilder {
 public:
  TraceBuilder(const std::string& dir, int pid, trace::Origin origin = trace::Origin::kStarted,
               const std::string& parent_trace = "", uint64_t fork_offset = 0, uint64_t start_ns = 1'000'000,
               uint64_t max_size = 0);
  // The time of the last record (a fork child starts after its parent's Fork).
  uint64_t now() const { return now_; }
  // Moves this trace's clock on (another process's records came between).
  void tick_until(uint64_t ns) { now_ = std::max(now_, ns); }
  std::string file_name() const { return writer_.file_name(); }
  std::string path() const { return dir_ + "/" + file_name(); }

  void process_info(const std::string& exe, const std::vector<std::string>& args);
  void module(const std::string& path, uint64_t low, uint64_t high, uint64_t bias);
  uint32_t stack(const std::vector<uint64_t>& ips);
  void socket(int fd, uint32_t stack = 0, bool cloexec = false, int domain = AF_INET,
              int type = SOCK_STREAM);
  void connect(int fd, const sockaddr_in& peer, int error = 0, uint32_t stack = 0);
  void accept(int fd, int listen_fd, const sockaddr_in& peer, uint32_t stack = 0);
  void listen(int fd);
  void close(int fd, int error = 0);
  // The counters record of fd's first I/O; its last I/O `last_io_delta` ns
  // from the previous record's time (negative: a coarse stamp, a tick early).
  void io_counters(int fd, uint64_t sent, uint64_t received, int64_t last_io_delta);
  void dup(int old_fd, int new_fd, trace::DupVia via, bool cloexec = false);
  void close_range(uint32_t first, uint32_t last, int flags = 0);
  void set_cloexec(int fd, bool cloexec);
  uint64_t fork();  // the Fork record's offset, for the child's header
  void exec(const std::string& path);
  void open_at_exit(int fd, uint8_t tcp_state = 1);
  void lost(uint64_t count);
  void session_begin(uint64_t handle, trace::SessionApi api, uint32_t stack = 0, uint64_t parent = 0,
                     const std::string& kind = "");
  void session_event(uint64_t handle, trace::SessionApi api, trace::SessionEventType type);
  void socket_owner(int fd, uint64_t handle, trace::SessionApi api);
  // Bounded traces (max_size given): moves on to the next segment as the
  // shim's rotation does (dropping the one before the current); the
  // checkpoint is then written with the calls below and the ones above.
  void next_segment();
  void checkpoint_begin(uint64_t sockets_opened, uint64_t sockets_closed);
  void checkpoint_end();
  // A Stack record with a given id (a checkpoint repeats them).
  void stack_again(uint32_t id, const std::vector<uint64_t>& ips);
  void site_counters(uint32_t stack_id, uint64_t opened, uint64_t closed,
                     const std::vector<trace::SitePoint>& history = {});
  // Ends the trace cleanly (ProcessEnd, trimmed).
  void end(int status = 0);

 private:
  uint64_t tick() { return now_ += 1000; }
  std::string dir_;
  shim::TraceWriter writer_;
  uint64_t now_ = 1'000'000;
  uint32_t next_stack_ = 1;
};

}  // namespace connleak::testing
