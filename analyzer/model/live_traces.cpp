#include "model/live_traces.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace connleak {
namespace fs = std::filesystem;

LiveTraces::LiveTraces(std::string directory) : directory_(std::move(directory)) {
  forks_.capture_every_fork = true;
}

std::vector<std::string> LiveTraces::take_warnings() {
  std::vector<std::string> taken;
  taken.swap(warnings_);
  for (auto& w : model_.warnings) taken.push_back(std::move(w));
  model_.warnings.clear();
  return taken;
}

// A fork child starts from its parent's state at the Fork record: it waits
// until its parent's trace has been read that far (or cannot be).
bool LiveTraces::parent_ready(const GrowingTrace& trace, const std::set<std::string>& pending) const {
  if (trace.header().origin != uint32_t(trace::Origin::kForked)) return true;
  if (trace.header().header_flags & trace::kHeaderEmptyFork) return true;  // nothing to inherit
  std::string parent = detail::parent_name(trace.header());
  if (pending.count(parent)) return false;
  auto followed = process_of_trace_.find(parent);
  if (followed == process_of_trace_.end()) return true;  // not traced here: nothing to inherit
  return forks_.captured.count({parent, trace.header().parent_fork_offset}) ||
         followed_[size_t(followed->second)].exited;
}

void LiveTraces::follow(std::unique_ptr<GrowingTrace> trace) {
  int process = int(model_.processes.size());
  model_.processes.push_back(detail::process_from_header(trace->header(), trace->name()));
  process_of_trace_[trace->name()] = process;
  auto replay = std::make_unique<detail::Replay>(model_, process, forks_);
  if (model_.processes.back().forked) {
    std::string parent = detail::parent_name(trace->header());
    auto parent_process = process_of_trace_.find(parent);
    auto state = forks_.captured.find({parent, trace->header().parent_fork_offset});
    bool empty = trace->header().header_flags & trace::kHeaderEmptyFork;
    if (parent_process != process_of_trace_.end() && empty) {
      model_.processes.back().parent = parent_process->second;
    } else if (parent_process != process_of_trace_.end() && state != forks_.captured.end()) {
      model_.processes.back().parent = parent_process->second;
      replay->inherit(std::move(state->second));
      forks_.captured.erase(state);
    }
  }
  followed_.push_back({std::move(trace), std::move(replay)});
}

void LiveTraces::add_new_traces() {
  std::error_code ec;
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(directory_, ec)) {
    std::string name = entry.path().filename().string();
    // A later segment of a bounded trace (connleak.P.N.sK.trace) is its
    // image's, read when that image's reading gets there.
    bool later_segment = name.find(".s") != std::string::npos;
    if (later_segment && name.starts_with("connleak.")) {
      std::string base = name.substr(0, name.rfind(".s")) + ".trace";
      if (!process_of_trace_.count(base) && !fs::exists(fs::path(directory_) / base, ec) &&
          unreadable_.insert(base).second)
        warnings_.push_back(name + ": its image's first segment is gone (the watch began after its bounded trace "
                            "rotated); `connleak report` reads it from its checkpoint");
    }
    if (name.starts_with("connleak.") && name.ends_with(".trace") && !later_segment &&
        !process_of_trace_.count(name) && !unreadable_.count(name))
      found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::unique_ptr<GrowingTrace>> fresh;
  for (const fs::path& path : found) {
    try {
      fresh.push_back(std::make_unique<GrowingTrace>(path));
    } catch (const TraceError& e) {
      // A file being created has no header yet: try it again next time.
      if (fs::file_size(path, ec) >= sizeof(trace::FileHeader)) {
        unreadable_.insert(path.filename().string());
        warnings_.push_back(std::string(e.what()) + "; left out");
      }
    }
  }
  // Parents before children; a child whose parent has not reached the fork
  // yet waits for the next look.
  for (bool progress = true; progress;) {
    progress = false;
    std::set<std::string> pending;
    for (const auto& t : fresh) if (t) pending.insert(t->name());
    for (auto& t : fresh) {
      if (!t) continue;
      pending.erase(t->name());
      if (!parent_ready(*t, pending)) {
        pending.insert(t->name());
        continue;
      }
      follow(std::move(t));
      progress = true;
    }
  }
}

// I/O counters are updated in place: read again what open sockets have now.
void LiveTraces::read_counters(int process) {
  std::vector<uint64_t> offsets;
  std::map<uint64_t, SocketLife*> by_offset;
  for (SocketLife& s : model_.sockets) {
    if (s.process != process || s.recycled || s.end != SocketEnd::kOpen || !s.counters_offset) continue;
    offsets.push_back(s.counters_offset);
    by_offset[s.counters_offset] = &s;
  }
  if (offsets.empty()) return;
  followed_[size_t(process)].trace->reread(offsets, sizeof(trace::IoCounters), [&](uint64_t offset, const char* bytes) {
    trace::IoCounters rec;
    std::memcpy(&rec, bytes, sizeof(rec));
    if (rec.h.type != uint8_t(trace::RecordType::kIoCounters)) return;
    SocketLife& s = *by_offset[offset];
    s.bytes_sent = std::max(s.bytes_sent, rec.bytes_sent);
    s.bytes_received = std::max(s.bytes_received, rec.bytes_received);
    s.last_io_mono_ns = std::max(s.last_io_mono_ns, rec.last_io_ns);
  });
}

// A bounded trace rotated: its next segment exists once the writer moved
// on, so what is left in this one is read first, then the next one.
void LiveTraces::follow_next_segment(Followed& f) {
  std::string name = f.trace->path().filename().string();
  std::string stem = name.substr(0, name.find(".trace"));
  if (f.segment) stem = stem.substr(0, stem.rfind(".s"));
  // The next segment, or (when the writer rotated past it and dropped it
  // before this look) the oldest one still there.
  std::error_code ec;
  unsigned found = 0;
  fs::path next;
  for (const auto& entry : fs::directory_iterator(f.trace->path().parent_path(), ec)) {
    std::string other = entry.path().filename().string();
    unsigned k = 0;
    if (!other.starts_with(stem + ".s") || std::sscanf(other.c_str() + stem.size(), ".s%u.trace", &k) != 1) continue;
    if (k > f.segment && (!found || k < found)) found = k, next = entry.path();
  }
  if (!found) return;
  try {
    f.trace = std::make_unique<GrowingTrace>(next);
  } catch (const TraceError&) {
    return;  // not all there yet (no header): next look
  }
  if (found != f.segment + 1)
    warnings_.push_back(next.filename().string() + ": the segments before it rotated away before this look; the " +
                        "counts of that process miss what they held (`connleak report` reads its checkpoint)");
  f.replay->next_segment();
  f.segment = found;
}

size_t LiveTraces::refresh() {
  add_new_traces();
  size_t records = 0;
  for (size_t i = 0; i < followed_.size(); ++i) {
    Followed& f = followed_[i];
    if (f.exited) continue;
    try {
      for (unsigned segment = ~0u; segment != f.segment;) {
        segment = f.segment;
        records += f.trace->read_new([&](const RecordView& r) { f.replay->dispatch(r); });
        follow_next_segment(f);
      }
    } catch (const TraceError& e) {
      warnings_.push_back(std::string(e.what()) + "; no longer followed");
      f.exited = true;
      continue;
    }
    read_counters(int(i));
    f.exited = f.replay->exited();
  }
  return records;
}

}  // namespace connleak
