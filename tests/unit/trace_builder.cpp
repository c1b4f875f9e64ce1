#include "trace_builder.h"

#include <arpa/inet.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>

namespace connleak::testing {

TempDir::TempDir() {
  char pattern[] = "/tmp/connleak-test-XXXXXX";
  path_ = mkdtemp(pattern);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

TraceBuilder::TraceBuilder(const std::string& dir, int pid, trace::Origin origin,
                           const std::string& parent_trace, uint64_t fork_offset, uint64_t start_ns,
                           uint64_t max_size)
    : dir_(dir), now_(start_ns) {
  trace::FileHeader h{};
  std::memcpy(h.magic, trace::kMagic, sizeof(h.magic));
  h.version = trace::kFormatVersion;
  h.min_reader_version = trace::kMinReaderVersion;
  h.endian_marker = trace::kEndianMarker;
  h.header_size = sizeof(h);
  h.origin = uint32_t(origin);
  h.pid = pid;
  h.ppid = 1;
  h.start_mono_ns = now_;
  h.start_real_ns = 1'700'000'000'000'000'000ull;
  h.parent_fork_offset = fork_offset;
  std::strncpy(h.parent_trace, parent_trace.c_str(), sizeof(h.parent_trace) - 1);
  h.stack_depth = 32;
  if (!writer_.create(dir.c_str(), pid, h, max_size)) throw std::runtime_error("cannot create trace in " + dir);
}

void TraceBuilder::process_info(const std::string& exe, const std::vector<std::string>& args) {
  std::string joined;
  for (const auto& a : args) joined += a + '\0';
  auto* r = writer_.reserve<trace::ProcessInfo>(exe.size() + joined.size());
  r->exe_len = uint32_t(exe.size());
  r->args_len = uint32_t(joined.size());
  std::memcpy(r + 1, exe.data(), exe.size());
  std::memcpy(reinterpret_cast<char*>(r + 1) + exe.size(), joined.data(), joined.size());
  writer_.publish(r, trace::RecordType::kProcessInfo);
}

void TraceBuilder::module(const std::string& path, uint64_t low, uint64_t high, uint64_t bias) {
  auto* r = writer_.reserve<trace::Module>(path.size());
  r->low = low;
  r->high = high;
  r->bias = bias;
  r->path_len = uint16_t(path.size());
  std::memcpy(r + 1, path.data(), path.size());
  writer_.publish(r, trace::RecordType::kModule);
}

uint32_t TraceBuilder::stack(const std::vector<uint64_t>& ips) {
  auto* r = writer_.reserve<trace::Stack>(ips.size() * sizeof(uint64_t));
  r->id = next_stack_++;
  r->depth = uint32_t(ips.size());
  std::memcpy(r + 1, ips.data(), ips.size() * sizeof(uint64_t));
  writer_.publish(r, trace::RecordType::kStack);
  return r->id;
}

void TraceBuilder::socket(int fd, uint32_t stack, bool cloexec, int domain, int type) {
  auto* r = writer_.reserve_for<trace::SocketOpen>(fd);
  r->ts = tick();
  r->stack_id = stack;
  r->domain = uint8_t(domain);
  r->type = uint8_t(type);
  r->h.flags = cloexec ? trace::kFlagCloexec : 0;
  writer_.publish(r, trace::RecordType::kSocketOpen);
}

void TraceBuilder::connect(int fd, const sockaddr_in& peer, int error, uint32_t stack) {
  auto* r = writer_.reserve_for<trace::Connect>(fd, sizeof(peer));
  r->ts = tick();
  r->error = error;
  r->stack_id = stack;
  r->peer.addr_len = sizeof(peer);
  std::memcpy(&r->peer + 1, &peer, sizeof(peer));
  writer_.publish(r, trace::RecordType::kConnect);
}

void TraceBuilder::accept(int fd, int listen_fd, const sockaddr_in& peer, uint32_t stack) {
  auto* r = writer_.reserve_for<trace::Accept>(fd, sizeof(peer));
  r->ts = tick();
  r->listen_fd = listen_fd;
  r->stack_id = stack;
  r->peer.addr_len = sizeof(peer);
  std::memcpy(&r->peer + 1, &peer, sizeof(peer));
  writer_.publish(r, trace::RecordType::kAccept);
}

void TraceBuilder::listen(int fd) {
  auto* r = writer_.reserve_for<trace::Listen>(fd);
  r->ts = tick();
  r->backlog = 16;
  writer_.publish(r, trace::RecordType::kListen);
}

void TraceBuilder::io_counters(int fd, uint64_t sent, uint64_t received, int64_t last_io_delta) {
  auto* r = writer_.reserve_for<trace::IoCounters>(fd);
  r->bytes_sent = sent;
  r->bytes_received = received;
  r->last_io_ns = uint64_t(int64_t(now_) + last_io_delta);
  writer_.publish(r, trace::RecordType::kIoCounters);
}

void TraceBuilder::close(int fd, int error) {
  auto* r = writer_.reserve_for<trace::Close>(fd);
  r->ts = tick();
  r->h.flags = error ? trace::kFlagFailed : 0;
  writer_.publish(r, trace::RecordType::kClose);
}

void TraceBuilder::dup(int old_fd, int new_fd, trace::DupVia via, bool cloexec) {
  auto* r = writer_.reserve_for<trace::Dup>(new_fd);
  r->ts = tick();
  r->old_fd = old_fd;
  r->via = uint16_t(via);
  r->h.flags = cloexec ? trace::kFlagCloexec : 0;
  writer_.publish(r, trace::RecordType::kDup);
}

void TraceBuilder::close_range(uint32_t first, uint32_t last, int flags) {
  auto* r = writer_.reserve<trace::CloseRange>();
  r->ts = tick();
  r->first = first;
  r->last = last;
  r->flags = flags;
  writer_.publish(r, trace::RecordType::kCloseRange);
}

void TraceBuilder::set_cloexec(int fd, bool cloexec) {
  auto* r = writer_.reserve_for<trace::SetCloexec>(fd);
  r->ts = tick();
  r->h.flags = cloexec ? trace::kFlagCloexec : 0;
  writer_.publish(r, trace::RecordType::kSetCloexec);
}

uint64_t TraceBuilder::fork() {
  auto* r = writer_.reserve<trace::Fork>();
  r->ts = tick();
  writer_.publish(r, trace::RecordType::kFork);
  return writer_.offset_of(r);
}

void TraceBuilder::exec(const std::string& path) {
  auto* r = writer_.reserve<trace::Exec>(path.size());
  r->ts = tick();
  r->path_len = uint32_t(path.size());
  std::memcpy(r + 1, path.data(), path.size());
  writer_.publish(r, trace::RecordType::kExec);
}

void TraceBuilder::open_at_exit(int fd, uint8_t tcp_state) {
  auto* r = writer_.reserve_for<trace::OpenAtExit>(fd);
  r->ts = tick();
  r->tcp_state = tcp_state;
  writer_.publish(r, trace::RecordType::kOpenAtExit);
}

void TraceBuilder::lost(uint64_t count) {
  auto* r = writer_.reserve<trace::Lost>();
  r->count = count;
  writer_.publish(r, trace::RecordType::kLost);
}

void TraceBuilder::session_begin(uint64_t handle, trace::SessionApi api, uint32_t stack, uint64_t parent,
                                 const std::string& kind) {
  auto* r = writer_.reserve<trace::SessionBegin>(kind.size());
  r->ts = tick();
  r->handle = handle;
  r->parent = parent;
  r->stack_id = stack;
  r->api = uint16_t(api);
  r->kind_len = uint16_t(kind.size());
  std::memcpy(r + 1, kind.data(), kind.size());
  writer_.publish(r, trace::RecordType::kSessionBegin);
}

void TraceBuilder::session_event(uint64_t handle, trace::SessionApi api, trace::SessionEventType type) {
  auto* r = writer_.reserve<trace::SessionEvent>();
  r->ts = tick();
  r->handle = handle;
  r->api = uint16_t(api);
  r->type = uint16_t(type);
  writer_.publish(r, trace::RecordType::kSessionEvent);
}

void TraceBuilder::socket_owner(int fd, uint64_t handle, trace::SessionApi api) {
  auto* r = writer_.reserve_for<trace::SocketOwner>(fd);
  r->handle = handle;
  r->api = uint16_t(api);
  writer_.publish(r, trace::RecordType::kSocketOwner);
}

void TraceBuilder::next_segment() {
  if (!writer_.begin_segment(64 * 1024)) throw std::runtime_error("cannot start a trace segment in " + dir_);
  writer_.switch_segment();
}

void TraceBuilder::checkpoint_begin(uint64_t sockets_opened, uint64_t sockets_closed) {
  auto* r = writer_.reserve<trace::CheckpointBegin>();
  r->ts = tick();
  r->segment = writer_.segment();
  r->flags = 0;
  r->sockets_opened = sockets_opened;
  r->sockets_closed = sockets_closed;
  r->sessions_created = r->sessions_ended = 0;
  writer_.publish(r, trace::RecordType::kCheckpointBegin);
}

void TraceBuilder::checkpoint_end() {
  auto* r = writer_.reserve<trace::CheckpointEnd>();
  r->ts = now_;
  writer_.publish(r, trace::RecordType::kCheckpointEnd);
}

void TraceBuilder::stack_again(uint32_t id, const std::vector<uint64_t>& ips) {
  auto* r = writer_.reserve<trace::Stack>(ips.size() * sizeof(uint64_t));
  r->id = id;
  r->depth = uint32_t(ips.size());
  std::memcpy(r + 1, ips.data(), ips.size() * sizeof(uint64_t));
  writer_.publish(r, trace::RecordType::kStack);
}

void TraceBuilder::site_counters(uint32_t stack_id, uint64_t opened, uint64_t closed,
                                 const std::vector<trace::SitePoint>& history) {
  auto* r = writer_.reserve<trace::SiteCounters>(history.size() * sizeof(trace::SitePoint));
  r->stack_id = stack_id;
  r->what = trace::kSiteSockets;
  r->points = uint16_t(history.size());
  r->opened = opened;
  r->closed = closed;
  std::memcpy(r + 1, history.data(), history.size() * sizeof(trace::SitePoint));
  writer_.publish(r, trace::RecordType::kSiteCounters);
}

void TraceBuilder::end(int status) {
  auto* r = writer_.reserve<trace::ProcessEnd>();
  r->ts = tick();
  r->exit_status = status;
  writer_.publish(r, trace::RecordType::kProcessEnd);
  writer_.finish();
}

}  // namespace connleak::testing
