#include "render/watch_view.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "model/growth.h"
#include "report/report_builder.h"
#include "model/running.h"

namespace connleak {
namespace {

std::string basename_of(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

std::string frame_name(const Frame& f) {
  std::string name = f.function.empty() ? basename_of(f.module) + "+0x" : f.function;
  if (f.function.empty()) {
    char offset[32];
    std::snprintf(offset, sizeof offset, "%llx", static_cast<unsigned long long>(f.module_offset));
    name += offset;
  }
  if (!f.file.empty()) name += " (" + basename_of(f.file) + (f.line > 0 ? ":" + std::to_string(f.line) : "") + ")";
  return name;
}

// "tcp", "udp", "unix stream": what the site's sockets are.
std::string socket_what(const SocketLife& s) {
  std::string protocol = protocol_name(s.domain, s.type, s.protocol);
  std::string family = family_name(s.domain);
  if (protocol == "tcp" || protocol == "udp") return protocol;
  return family + " " + protocol;
}

struct SiteTotals {
  SiteRow row;
  bool named = false;
};

void add_open_objects(const LiveTraces& live, uint64_t now, std::map<int, SiteTotals*>& by_site,
                      const std::optional<std::set<uint64_t>>& close_wait) {
  const Model& model = live.model();
  for (const SocketLife& s : model.sockets) {
    if (s.recycled || s.end != SocketEnd::kOpen || s.site < 0 || !by_site.count(s.site)) continue;
    SiteRow& row = by_site[s.site]->row;
    if (row.what.empty()) row.what = socket_what(s);
    if (live.ended(s.process)) continue;
    uint64_t active = std::max(s.last_io_mono_ns, s.opened_mono_ns);
    if (now > active) row.oldest_idle_ns = std::max(row.oldest_idle_ns, now - active);
    if (close_wait && !close_wait->empty() && s.type == SOCK_STREAM && s.connected) {
      int fd = s.open_fds.empty() ? s.fd : s.open_fds.front();
      if (close_wait->count(socket_inode(model.processes[size_t(s.process)].pid, fd))) ++row.close_wait;
    }
  }
  for (const SessionLife& s : model.sessions) {
    if (s.ended || s.site < 0 || live.ended(s.process) || !by_site.count(s.site)) continue;
    uint64_t active = std::max(s.last_transfer_mono_ns, s.created_mono_ns);
    SiteRow& row = by_site[s.site]->row;
    if (now > active) row.oldest_idle_ns = std::max(row.oldest_idle_ns, now - active);
  }
}

std::string duration(uint64_t ns) {
  char text[32];
  if (ns < 60'000'000'000ull) {
    std::snprintf(text, sizeof text, "%.1fs", double(ns) / 1e9);
  } else if (ns < 3'600'000'000'000ull) {
    std::snprintf(text, sizeof text, "%llum%02llus", static_cast<unsigned long long>(ns / 60'000'000'000ull),
                  static_cast<unsigned long long>(ns / 1'000'000'000ull % 60));
  } else {
    std::snprintf(text, sizeof text, "%lluh%02llum", static_cast<unsigned long long>(ns / 3'600'000'000'000ull),
                  static_cast<unsigned long long>(ns / 60'000'000'000ull % 60));
  }
  return text;
}

}  // namespace

std::string SiteNamer::name(const Model& model, const StackRef& stack) {
  std::string key = model.stack_key(stack);
  auto it = names_.find(key);
  if (it != names_.end()) return it->second;
  std::vector<Frame> frames = symbolize_stack(model, stack, symbolizer_);
  std::string exe = model.processes[size_t(stack.process)].exe;
  std::string name = frames.empty() ? "(no stack)" : frame_name(frames.front());
  // The program's own frame says more than the library's socket() call.
  for (const Frame& f : frames) {
    if (!f.function.empty() && f.module == exe) {
      name = frame_name(f);
      break;
    }
  }
  return names_[key] = name;
}

WatchSnapshot take_snapshot(const LiveTraces& live, SiteNamer& namer, uint64_t now) {
  const Model& model = live.model();
  WatchSnapshot snapshot;
  snapshot.processes = model.processes.size();
  for (size_t p = 0; p < model.processes.size(); ++p) snapshot.running += live.ended(int(p)) ? 0 : 1;
  std::map<std::string, SiteTotals> by_key;
  std::map<int, SiteTotals*> by_site;
  std::map<std::string, std::set<int>> processes_of;
  for (size_t i = 0; i < model.sites.size(); ++i) {
    const SiteHistory& site = model.sites[i];
    std::string key = (site.sessions ? "session:" + site.api + ":" : "socket:") + model.stack_key(site.stack);
    SiteTotals& totals = by_key[key];
    by_site[int(i)] = &totals;
    if (!totals.named) {
      totals.row.site = namer.name(model, site.stack);
      if (site.sessions) totals.row.what = site.api + " session";
      totals.named = true;
    }
    totals.row.open += int64_t(site.opened()) - int64_t(site.closed());
    totals.row.opened += site.opened();
    totals.row.closed += site.closed();
    if (!live.ended(site.process)) totals.row.per_minute += measure_growth(site, now).per_minute;
    processes_of[key].insert(site.process);
  }
  add_open_objects(live, now, by_site, close_wait_inodes());
  for (auto& [key, totals] : by_key) {
    totals.row.processes = processes_of[key].size();
    snapshot.rows.push_back(std::move(totals.row));
    if (!key.starts_with("session:")) snapshot.sockets_open += uint64_t(std::max<int64_t>(0, snapshot.rows.back().open));
  }
  std::stable_sort(snapshot.rows.begin(), snapshot.rows.end(), [](const SiteRow& a, const SiteRow& b) {
    return a.open != b.open ? a.open > b.open : a.opened > b.opened;
  });
  return snapshot;
}

void render_watch(const WatchSnapshot& snapshot, const std::string& source, bool terminal, size_t max_rows,
                  std::ostream& out) {
  std::time_t now = std::time(nullptr);
  char clock[16];
  std::strftime(clock, sizeof clock, "%H:%M:%S", std::localtime(&now));
  if (terminal) out << "\x1b[H\x1b[2J";
  out << "connleak watch " << source << "  " << clock << "  " << snapshot.processes << " processes ("
      << snapshot.running << " running), " << snapshot.sockets_open << " sockets open\n";
  char line[160];
  std::snprintf(line, sizeof line, "%8s %9s %9s %10s %10s %10s %5s  %-18s %s\n", "OPEN", "OPENED", "CLOSED",
                "GROWTH/MIN", "OLDEST-IDLE", "CLOSE_WAIT", "PROCS", "WHAT", "SITE");
  out << line;
  size_t shown = 0;
  for (const SiteRow& row : snapshot.rows) {
    if (terminal && shown == max_rows) {
      out << "  ... " << snapshot.rows.size() - shown << " more sites\n";
      break;
    }
    char rate[16];
    std::snprintf(rate, sizeof rate, "%+.1f", row.per_minute);
    std::snprintf(line, sizeof line, "%8lld %9llu %9llu %10s %10s %10zu %5zu  %-18s ", static_cast<long long>(row.open),
                  static_cast<unsigned long long>(row.opened), static_cast<unsigned long long>(row.closed), rate,
                  row.oldest_idle_ns ? duration(row.oldest_idle_ns).c_str() : "-", row.close_wait, row.processes,
                  row.what.c_str());
    out << line << row.site << '\n';
    ++shown;
  }
  if (!terminal) out << '\n';
  out.flush();
}

}  // namespace connleak
