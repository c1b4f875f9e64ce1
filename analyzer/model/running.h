#pragma once

#include <cstdint>
#include <optional>
#include <set>

#include "model/model.h"

namespace connleak {

// Marks ProcessEnd::kRunning the processes without an end record that are
// still running now (same pid, started no later than their trace).
void mark_running_processes(Model& model);

// The pid of `p` still names the process that wrote its trace.
bool still_running(const ProcessLife& p);

// The socket inode at `fd` of `pid` now, 0 when there is none.
uint64_t socket_inode(int pid, int fd);

// The inodes of the TCP sockets (IPv4 and IPv6) in CLOSE_WAIT in this
// network namespace now (close_wait.cpp); nullopt when the kernel cannot say.
std::optional<std::set<uint64_t>> close_wait_inodes();

}  // namespace connleak
