// The connleak trace format: the one definition of every on-disk record,
// shared by the writer (preload/) and the reader (analyzer/).
//
// A trace file holds one process image (one pid between two execs, or a
// forked child): a FileHeader, then 8-byte-aligned records, each starting
// with a RecordHeader. The writer reserves a record's space with one atomic
// add, stores its size, fills it, and publishes it by storing its type last
// (release). So a reader of a file whose writer was SIGKILLed sees:
//   type != 0            a complete record
//   type == 0, size != 0 a record whose writer never finished: skip it
//   type == 0, size == 0 the end of the data (the rest is zero padding)
// A cleanly finished trace ends with a ProcessEnd record exactly at EOF; any
// other trace keeps at least one zero RecordHeader of padding after its last
// record, so a file that ends in record data without ProcessEnd is truncated.
//
// Compatibility: new data arrives as new record types, never by changing an
// existing one. A reader skips types it does not know; `min_reader_version`
// is raised only when old readers would misread a file.
//
// This header is plain C++ with no dependencies beyond <cstdint>, so the shim
// can use it without pulling in the C++ runtime.
#pragma once

#include <cstddef>
#include <cstdint>

namespace connleak::trace {

inline constexpr char kMagic[8] = {'C', 'O', 'N', 'N', 'L', 'E', 'A', 'K'};
// 2: fork children that inherit nothing traced may leave no trace
// (kFlagLazyChild, kHeaderEmptyFork); a version 1 reader would take each for
// a missing child and call the report incomplete.
inline constexpr uint16_t kFormatVersion = 2;
inline constexpr uint16_t kMinReaderVersion = 2;
inline constexpr uint32_t kEndianMarker = 0x01020304;
inline constexpr size_t kRecordAlign = 8;
inline constexpr size_t kTraceNameMax = 64;
inline constexpr size_t kMaxSockaddr = 128;  // sizeof(sockaddr_storage)
inline constexpr uint32_t kNoStack = 0;      // stack ids start at 1

// How the process image began.
enum class Origin : uint32_t {
  kStarted = 0,  // a fresh process or a new image after exec
  kForked = 1,   // a fork() child; see FileHeader::parent_*
};

struct FileHeader {
  char magic[8];
  uint16_t version;
  uint16_t min_reader_version;
  uint32_t endian_marker;
  uint32_t header_size;  // sizeof(FileHeader) of the writer
  uint32_t origin;       // Origin
  int32_t pid;
  int32_t ppid;
  // CLOCK_MONOTONIC at start: every record's clock. SocketOpen, Close and
  // IoCounters read it coarse (as of the last timer tick: up to a tick early).
  uint64_t start_mono_ns;
  uint64_t start_real_ns;  // CLOCK_REALTIME at the same moment
  // For Origin::kForked: the parent's trace file (basename) and the offset of
  // the Fork record in it; the child starts with the parent's state there.
  uint64_t parent_fork_offset;
  char parent_trace[kTraceNameMax];
  uint32_t stack_depth;  // configured maximum frames per stack
  uint32_t header_flags;  // kHeader* (zero in older traces)
  // Non-zero when the trace could not grow: the end-of-process records were
  // written at this offset, in space kept back for them. A reader that meets
  // the end of the data before it goes on from here. (Zero in older traces.)
  uint64_t tail_offset;
  // Non-zero when the image exec'd (set just before the exec): its records
  // end at or a little after this offset. The next image of the pid trims
  // the file there, so a trace left by an exec holds only its data.
  uint64_t exec_data_end;
  // Bounded traces (CONNLEAK_MAX_TRACE_SIZE): one image's trace is a run of
  // segment files, connleak.<pid>.<n>.trace (segment 0) and
  // connleak.<pid>.<n>.s<k>.trace; every segment after the first starts with
  // a checkpoint (CheckpointBegin..CheckpointEnd) that rebuilds all the
  // image had open then, so older segments can be deleted. (All zero in
  // unbounded traces and in traces of older writers.)
  uint32_t segment;        // k
  uint32_t segment_flags;  // kSegment*
  // Segment 0 only: the newest segment so far (updated at each rotation),
  // so the next image after an exec finds the one to trim.
  uint32_t last_segment;
  uint32_t reserved;
};
static_assert(sizeof(FileHeader) == 160);

// Origin::kForked: a child that inherited nothing traced and made its trace
// at its first event (its Fork record has kFlagLazyChild): it starts from
// an empty state, whatever its parent's trace still holds.
inline constexpr uint32_t kHeaderEmptyFork = 1;

inline constexpr uint32_t kSegmentBounded = 1;  // written in bounded mode
// Segment 0 after its records were dropped: only the header stays, so the
// file name (which the next image after an exec must not take) stays too.
inline constexpr uint32_t kSegmentDropped = 2;
// The segment before this one was dropped (by the rotation that followed
// it): its absence is no damage.
inline constexpr uint32_t kSegmentPreviousDropped = 4;

enum class RecordType : uint8_t {
  kNone = 0,  // not a record: end of data, or a reservation never published
  kProcessInfo = 1,
  kModule = 2,
  kStack = 3,
  kSocketOpen = 4,
  kConnect = 5,
  kAccept = 6,
  kBind = 7,
  kListen = 8,
  kClose = 9,
  kCloseRange = 10,
  kDup = 11,
  kShutdown = 12,
  kSetCloexec = 13,
  kFork = 14,
  kExec = 15,
  kExecFailed = 16,
  kOpenAtExit = 17,
  kLost = 18,
  kProcessEnd = 19,
  kIoCounters = 20,
  kInheritedFd = 21,
  kPassOn = 22,
  kSpawn = 23,
  kChildExit = 24,
  kBadClose = 25,
  kSessionBegin = 26,
  kSessionEvent = 27,
  kSocketOwner = 28,
  kForkFds = 29,
  kSocketInode = 30,
  kCheckpointBegin = 31,
  kCheckpointEnd = 32,
  kSiteCounters = 33,
  kSessionState = 34,
};
inline constexpr uint16_t kMaxRecordType = 34;

// Most records are about one fd: it lives in the header, which keeps the
// common records (socket, close) at 24 and 16 bytes.
struct RecordHeader {
  uint8_t type;   // RecordType; stored last, with release ordering
  uint8_t flags;  // record-specific bits (kFlag*)
  uint16_t size;  // whole record in bytes, a multiple of kRecordAlign
  int32_t fd;     // the fd the record is about, -1 when none
};
static_assert(sizeof(RecordHeader) == 8);

// Variable-length records: `bytes` fields follow the fixed part.

// The command line: `exe_len` bytes of /proc/self/exe, then `args_len` bytes
// of /proc/self/cmdline (NUL-separated arguments).
struct ProcessInfo {
  RecordHeader h;
  uint32_t exe_len;
  uint32_t args_len;
  // char bytes[exe_len + args_len];
};
static_assert(sizeof(ProcessInfo) == 16);

// One loaded ELF object: addresses [low, high) map into it with load bias
// `bias` (dlpi_addr). Then `build_id_len` bytes of GNU build-id and
// `path_len` bytes of path (no NUL).
struct Module {
  RecordHeader h;
  uint64_t bias;
  uint64_t low;
  uint64_t high;
  uint16_t build_id_len;
  uint16_t path_len;
  uint32_t reserved;
  // uint8_t build_id[build_id_len]; char path[path_len];
};
static_assert(sizeof(Module) == 40);

// A distinct call stack, innermost frame first, the shim's frames removed.
// Every frame is a return address (the instruction after the call), so the
// symbolizer looks up address - 1 to land on the calling line.
struct Stack {
  RecordHeader h;
  uint32_t id;
  uint32_t depth;
  // uint64_t ips[depth];
};
static_assert(sizeof(Stack) == 16);

// RecordHeader::flags bits.
inline constexpr uint8_t kFlagCloexec = 1;     // the fd has close-on-exec
inline constexpr uint8_t kFlagNonblock = 2;    // SocketOpen, Accept
inline constexpr uint8_t kFlagSocketPair = 4;  // SocketOpen: one end of a socketpair()
inline constexpr uint8_t kFlagReceived = 8;    // SocketOpen: arrived with SCM_RIGHTS;
                                               // the stack is the recvmsg()
inline constexpr uint8_t kFlagFclose = 16;     // Close: by fclose() of an fdopen()ed stream
inline constexpr uint8_t kFlagFailed = 32;     // Close: the call failed (the fd is freed anyway)
// IoCounters in a fork child: carried over from the parent (its bytes), with
// last_io_ns 0 until the child itself does I/O.
inline constexpr uint8_t kFlagCarriedOver = 64;

// A new socket at h.fd.
struct SocketOpen {
  RecordHeader h;
  uint64_t ts;  // CLOCK_MONOTONIC_COARSE ns (socket(): a hot path)
  uint32_t stack_id;
  uint16_t protocol;  // IPPROTO_*, 0 = default
  uint8_t domain;     // AF_*
  uint8_t type;       // SOCK_STREAM, ... without SOCK_CLOEXEC|SOCK_NONBLOCK
};
static_assert(sizeof(SocketOpen) == 24);

// A socket address as passed to or returned by the kernel.
struct AddressTail {
  uint16_t addr_len;
  uint16_t reserved[3];
  // uint8_t addr[addr_len] (a struct sockaddr), padded to kRecordAlign
};
static_assert(sizeof(AddressTail) == 8);

struct Connect {
  RecordHeader h;
  uint64_t ts;
  int32_t error;  // 0, or errno (EINPROGRESS for a non-blocking connect)
  uint32_t stack_id;
  AddressTail peer;
};
static_assert(sizeof(Connect) == 32);

// h.fd is the new, connected socket.
struct Accept {
  RecordHeader h;
  uint64_t ts;
  int32_t listen_fd;
  uint32_t stack_id;
  AddressTail peer;
};
static_assert(sizeof(Accept) == 32);

struct Bind {
  RecordHeader h;
  uint64_t ts;
  int32_t error;
  int32_t reserved;
  AddressTail local;
};
static_assert(sizeof(Bind) == 32);

struct Listen {
  RecordHeader h;
  uint64_t ts;
  int32_t backlog;
  int32_t reserved;
};
static_assert(sizeof(Listen) == 24);

// h.flags: kFlagFclose, kFlagFailed.
struct Close {
  RecordHeader h;
  uint64_t ts;  // CLOCK_MONOTONIC_COARSE (a hot path)
};
static_assert(sizeof(Close) == 16);

struct CloseRange {
  RecordHeader h;
  uint64_t ts;
  uint32_t first;
  uint32_t last;
  int32_t flags;  // CLOSE_RANGE_*; closefrom(n) is recorded as [n, ~0U]
  int32_t error;
};
static_assert(sizeof(CloseRange) == 32);

enum class DupVia : uint16_t { kDup = 0, kDup2 = 1, kDup3 = 2, kFcntl = 3 };

// h.fd (the new fd) now refers to the same socket as `old_fd`; whatever it
// referred to before was closed by the call (dup2/dup3 semantics).
// h.flags: kFlagCloexec of the new fd.
struct Dup {
  RecordHeader h;
  uint64_t ts;
  int32_t old_fd;
  uint16_t via;  // DupVia
  uint16_t reserved;
};
static_assert(sizeof(Dup) == 24);

struct Shutdown {
  RecordHeader h;
  uint64_t ts;
  int32_t how;  // SHUT_RD, SHUT_WR, SHUT_RDWR
  int32_t reserved;
};
static_assert(sizeof(Shutdown) == 24);

// h.flags: kFlagCloexec as it is now.
struct SetCloexec {
  RecordHeader h;
  uint64_t ts;
};
static_assert(sizeof(SetCloexec) == 16);

// Reserved before fork(), published after it in the parent. A forked child's
// FileHeader points at this record's offset: that is how the two are linked.
struct Fork {
  RecordHeader h;
  uint64_t ts;
  int32_t child_pid;  // 0: the fork handlers that write this do not learn it
  int32_t error;      // with kFlagLazyChild: set by a child that could not make its trace
};
// Fork: the child inherited nothing traced (no socket, no session) and makes
// its trace at its first event, if it has one: a child that only execs or
// exits leaves none. One that could not make it sets Fork::error, and sets
// child_pid at the fork (through the mapping it shares with its parent); one
// that made its trace at the fork after all clears this flag.
inline constexpr uint8_t kFlagLazyChild = 1;
static_assert(sizeof(Fork) == 24);

// The first record of a fork child whose parent had an fd-creating call
// in flight at the fork (a blocking accept or recvmsg that the fork could
// not wait for, or a call that did not finish in time): the socket fds the
// child really holds, from the kernel. Without it, the Fork record's place
// in the parent's trace defines the child's fds exactly.
struct ForkFds {
  RecordHeader h;
  uint32_t count;
  uint32_t reserved;
  // int32_t fds[count];
};
static_assert(sizeof(ForkFds) == 16);

// The kernel's inode of the socket at h.fd, where it crosses into another
// process with SCM_RIGHTS: after a received socket's SocketOpen, and for
// each tracked socket a sendmsg() sent. The analyzer joins the two ends.
struct SocketInode {
  RecordHeader h;
  uint64_t inode;
};
static_assert(sizeof(SocketInode) == 16);

// Written just before the image is replaced; ExecFailed follows if it was not.
struct Exec {
  RecordHeader h;
  uint64_t ts;
  uint32_t path_len;
  uint32_t reserved;
  // char path[path_len];
};
static_assert(sizeof(Exec) == 24);

struct ExecFailed {
  RecordHeader h;
  uint64_t ts;
  int32_t error;
  int32_t reserved;
};
static_assert(sizeof(ExecFailed) == 24);

// At a clean exit, for every socket the shim still holds as open: what the
// kernel says of it then.
struct OpenAtExit {
  RecordHeader h;
  uint64_t ts;
  uint8_t tcp_state;  // TCP_ESTABLISHED... from TCP_INFO, 0 = unknown
  uint8_t reserved[7];
  AddressTail local;
};
static_assert(sizeof(OpenAtExit) == 32);

enum class LostReason : uint32_t {
  kTraceFull = 1,   // the trace file could not grow (disk full, size cap)
  kFdTooLarge = 2,  // an fd beyond the shim's fd table
  // Not an event lost: events recorded without their stack, where the
  // unwinder could not run safely (a signal handler interrupting an unwind,
  // a fork that did not drain, no free unwind stack).
  kStackOmitted = 3,
  // Bounded traces: state a checkpoint could not carry (the shim's session
  // table was full, a record it keeps was not where it should be).
  kCheckpointIncomplete = 4,
};

struct Lost {
  RecordHeader h;
  uint64_t count;
  uint32_t reason;  // LostReason
  uint32_t reserved;
};
static_assert(sizeof(Lost) == 24);

enum class EndVia : uint32_t { kExit = 0, kUnderscoreExit = 1 };

struct ProcessEnd {
  RecordHeader h;
  uint64_t ts;
  int32_t exit_status;
  uint32_t via;  // EndVia
};
static_assert(sizeof(ProcessEnd) == 24);

// A socket's activity, updated in place (atomic adds into the mapped file)
// by every read/write/send/recv on it, so even a killed process's trace
// holds its last values. Written at the socket's first I/O (a socket that
// never does I/O costs nothing here), and in a fork child for every
// inherited socket that had one. Several records for one socket (one per
// fd that did I/O first) add up.
struct IoCounters {
  RecordHeader h;
  uint64_t bytes_sent;
  uint64_t bytes_received;
  uint64_t last_io_ns;  // CLOCK_MONOTONIC_COARSE, 0 = no I/O yet
};
static_assert(sizeof(IoCounters) == 32);

// An fd the process image had when it started (from /proc/self/fd): not
// its own, so never its leak. Sockets carry what the kernel says of them.
// h.flags: kFlagCloexec.
struct InheritedFd {
  RecordHeader h;
  uint64_t ts;
  uint64_t inode;  // st_ino, to match the socket its previous image passed on
  uint16_t domain;
  uint16_t type;
  uint16_t protocol;
  uint16_t reserved;
  AddressTail local;  // then the local address bytes, then a second
                      // AddressTail with the peer address
};
static_assert(sizeof(InheritedFd) == 40);

// Before an exec or posix_spawn: a tracked socket without close-on-exec
// that the next image may inherit, with its inode so the next image's
// InheritedFd can be matched to it.
struct PassOn {
  RecordHeader h;
  uint64_t inode;
};
static_assert(sizeof(PassOn) == 16);

// posix_spawn() started a child image.
struct Spawn {
  RecordHeader h;
  uint64_t ts;
  int32_t child_pid;  // -1 when it failed
  int32_t error;
  uint32_t path_len;
  uint32_t reserved;
  // char path[path_len];
};
static_assert(sizeof(Spawn) == 32);

// The process reaped a child (wait family): how the child ended, which a
// child killed by a signal cannot record itself.
struct ChildExit {
  RecordHeader h;
  uint64_t ts;
  int32_t pid;
  int32_t wait_status;  // as from waitpid(): WIFEXITED/WIFSIGNALED apply
};
static_assert(sizeof(ChildExit) == 24);

// close() of a socket fd that was already closed (a double close, or a
// close of a number the program no longer owned).
struct BadClose {
  RecordHeader h;
  uint64_t ts;
  int32_t error;  // what close() failed with: EBADF
  uint32_t stack_id;
};
static_assert(sizeof(BadClose) == 24);

// Sessions: objects that hold connections (a libcurl handle, an OpenSSL
// SSL_CTX, a program's own pool annotated with connleak.h).
enum class SessionApi : uint16_t {
  kCurlEasy = 0,
  kCurlMulti = 1,
  kCurlShare = 2,
  kOpensslSsl = 3,
  kOpensslCtx = 4,
  kUser = 5,  // kind name in the record
  kLibpq = 6,
  kMysql = 7,
  kHiredis = 8,
  kGnutls = 9,
  kLibssh2 = 10,
};

// A session came to life at `handle`. When it was made inside a call of
// another session (libcurl making its own SSL_CTX), `parent` is that one.
struct SessionBegin {
  RecordHeader h;
  uint64_t ts;
  uint64_t handle;
  uint64_t parent;  // 0 = made by the program itself
  uint32_t stack_id;
  uint16_t api;       // SessionApi
  uint16_t kind_len;  // kUser: the kind's length
  // char kind[kind_len];
};
static_assert(sizeof(SessionBegin) == 40);

enum class SessionEventType : uint16_t {
  kEnd = 0,           // cleanup/free/connleak_session_end: invalidated
  kTransferDone = 1,  // a transfer completed
  kReset = 2,         // curl_easy_reset
  kAddRef = 3,        // SSL_CTX_up_ref
  kRelease = 4,       // SSL_CTX_free: one reference less
  kJoined = 5,        // curl_multi_add_handle: `other` is the multi
  kLeft = 6,          // curl_multi_remove_handle
  kShutdown = 7,      // SSL_shutdown, gnutls_bye
};

struct SessionEvent {
  RecordHeader h;
  uint64_t ts;
  uint64_t handle;
  uint64_t other;  // kJoined/kLeft: the multi handle
  uint16_t api;    // SessionApi
  uint16_t type;   // SessionEventType
  uint32_t reserved;
};
static_assert(sizeof(SessionEvent) == 40);

// A socket belongs to a session: it was made inside one of the session's
// calls (curl_easy_perform), or given to it (SSL_set_fd).
struct SocketOwner {
  RecordHeader h;
  uint64_t handle;
  uint16_t api;  // SessionApi
  uint16_t reserved[3];
};
static_assert(sizeof(SocketOwner) == 24);

// Checkpoints (bounded traces). A checkpoint holds ordinary records, copied
// verbatim from the segment before (SocketOpen, Accept, InheritedFd,
// Connect, Bind, Listen, Shutdown, SocketOwner, SocketInode, IoCounters,
// SessionBegin, Stack, Module, ProcessInfo; h.fd and the close-on-exec flag
// as they are now; a Dup for each further fd of a socket), plus SiteCounters
// and SessionState, between a CheckpointBegin and a CheckpointEnd. A reader
// that starts at this segment replays them as the state at `ts`; one that
// read the segment before skips them, except IoCounters, whose values then
// replace the socket's (its counters live on in this segment).
inline constexpr uint32_t kCheckpointForkStart = 1;  // a fork child's first records
// SocketOpen/Accept/InheritedFd inside a checkpoint: a copy this image got
// from its fork parent, not a socket it made.
inline constexpr uint8_t kFlagForkCopy = 128;

struct CheckpointBegin {
  RecordHeader h;
  uint64_t ts;            // CLOCK_MONOTONIC when the state was taken
  uint32_t segment;       // this segment's number
  uint32_t flags;         // kCheckpoint*
  // Since the image started, as the analyzer counts them: sockets it made
  // (SocketOpen, Accept), and of those closed; sessions begun and ended.
  uint64_t sockets_opened;
  uint64_t sockets_closed;
  uint64_t sessions_created;
  uint64_t sessions_ended;
};
static_assert(sizeof(CheckpointBegin) == 56);

struct CheckpointEnd {
  RecordHeader h;
  uint64_t ts;
};
static_assert(sizeof(CheckpointEnd) == 16);

inline constexpr uint16_t kSiteSockets = 0xffff;  // SiteCounters::what for sockets

struct SitePoint {
  uint64_t ts;  // CLOCK_MONOTONIC of an earlier checkpoint
  uint64_t opened;
  uint64_t closed;
};
static_assert(sizeof(SitePoint) == 24);

// Per creation stack: how many sockets (what == kSiteSockets) or sessions
// (what == SessionApi) were opened and closed since the image started, and
// the same counts at up to kSiteHistory earlier checkpoints, oldest first,
// so growth over minutes shows when only seconds of full history are kept.
inline constexpr uint32_t kSiteHistory = 64;
struct SiteCounters {
  RecordHeader h;
  uint32_t stack_id;
  uint16_t what;
  uint16_t points;
  uint64_t opened;
  uint64_t closed;
  // SitePoint history[points];
};
static_assert(sizeof(SiteCounters) == 32);

// A live session's state, after its SessionBegin in a checkpoint.
struct SessionState {
  RecordHeader h;
  uint64_t handle;
  uint64_t transfers;         // kTransferDone events so far
  uint64_t last_transfer_ns;  // 0 = none
  uint64_t multi;             // the curl multi it joined, 0 = none
  uint64_t connections;       // connects of sockets it held when they connected
  int32_t references;         // SSL_CTX: up_ref count + 1
  uint16_t api;
  uint16_t reserved;
};
static_assert(sizeof(SessionState) == 56);

constexpr size_t align_record(size_t n) {
  return (n + kRecordAlign - 1) & ~(kRecordAlign - 1);
}

}  // namespace connleak::trace
