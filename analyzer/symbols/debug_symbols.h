// When many reported frames lack symbols, one line saying which debug-symbol
// packages would name them.
#pragma once

#include <string>

#include "report/report.h"

namespace connleak {

// "12 frames have no symbols (in /usr/bin/redis-check-rdb); their debug
// symbols would name them: redis-tools-dbgsym (Debian's debian-debug
// archive)", or "" when the stacks read well. `dpkg_info` is where dpkg
// keeps its package lists.
std::string debug_symbols_hint(const Report& report, const std::string& dpkg_info = "/var/lib/dpkg/info");

}  // namespace connleak
