#include "trace/trace_segments.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace connleak {
namespace {

bool is_dropped(const TraceFile& file) { return file.header().segment_flags & trace::kSegmentDropped; }

// The newest segments without a gap between them, oldest first; warns of
// the ones left out.
std::vector<const TraceFile*> readable_run(const std::string& stem, std::vector<const TraceFile*> files,
                                           std::vector<std::string>& warnings) {
  std::sort(files.begin(), files.end(),
            [](const TraceFile* a, const TraceFile* b) { return a->header().segment < b->header().segment; });
  const TraceFile* dropped = nullptr;  // the header left of a dropped segment
  std::vector<const TraceFile*> usable;
  for (const TraceFile* f : files) {
    if (is_dropped(*f)) {
      dropped = f;
    } else if (f->header().segment > 0 && !has_complete_checkpoint(*f)) {
      // Killed in the middle of a rotation: the segment before holds it all.
      warnings.push_back(f->name() + ": its checkpoint was never completed (the process ended during a "
                         "rotation); the trace is read without it");
    } else {
      usable.push_back(f);
    }
  }
  if (usable.empty()) {
    warnings.push_back(stem + ": every segment of this trace after its first is missing or damaged; the "
                       "process's events are not known");
    return {dropped ? dropped : files.front()};
  }
  size_t start = usable.size() - 1;
  while (start > 0 && usable[start - 1]->header().segment + 1 == usable[start]->header().segment) --start;
  uint32_t first = usable[start]->header().segment;
  bool dropped_before = usable[start]->header().segment_flags & trace::kSegmentPreviousDropped;
  if (start > 0 || (first > 0 && !dropped_before)) {
    warnings.push_back(stem + ": segment " + std::to_string(first - 1) + " of this trace is missing or damaged; "
                       "it is read from the checkpoint of segment " + std::to_string(first) +
                       (start > 0 ? ", and the older segments are left out" : ""));
  }
  if (dropped && dropped->header().last_segment > usable.back()->header().segment) {
    warnings.push_back(stem + ": segments after segment " + std::to_string(usable.back()->header().segment) +
                       " of this trace are missing; its last events are not known");
  }
  return {usable.begin() + long(start), usable.end()};
}

}  // namespace

std::string image_stem(const std::string& name) {
  if (!name.ends_with(".trace")) return name;
  std::string stem = name.substr(0, name.size() - 6);
  size_t dot = stem.rfind('.');
  if (dot != std::string::npos && dot + 2 <= stem.size() && stem[dot + 1] == 's' &&
      std::all_of(stem.begin() + long(dot) + 2, stem.end(), [](unsigned char c) { return std::isdigit(c); }) &&
      dot + 2 < stem.size()) {
    stem.resize(dot);
  }
  return stem;
}

bool has_complete_checkpoint(const TraceFile& segment) {
  bool begun = false, ended = false;
  try {
    segment.scan_records([&](const RecordView& r) {
      if (r.type() == trace::RecordType::kCheckpointBegin) begun = true;
      if (r.type() == trace::RecordType::kCheckpointEnd) ended = true;
      return begun && !ended;
    });
  } catch (const TraceError&) {
    return false;
  }
  return begun && ended;
}

bool has_fork_checkpoint(const TraceFile& child) {
  bool found = false;
  int budget = 4;  // ProcessInfo, then the checkpoint
  try {
    child.scan_records([&](const RecordView& r) {
      if (r.type() == trace::RecordType::kCheckpointBegin)
        found = r.as<trace::CheckpointBegin>().flags & trace::kCheckpointForkStart;
      return !found && --budget > 0;
    });
  } catch (const TraceError&) {
    return false;
  }
  return found;
}

std::vector<TraceImage> group_segments(const std::vector<TraceFile>& traces, std::vector<std::string>& warnings) {
  std::map<std::string, std::vector<const TraceFile*>> by_stem;
  std::vector<std::string> order;
  for (const TraceFile& t : traces) {
    auto [it, fresh] = by_stem.try_emplace(image_stem(t.name()));
    if (fresh) order.push_back(it->first);
    it->second.push_back(&t);
  }
  std::vector<TraceImage> images;
  for (const std::string& stem : order) {
    const auto& files = by_stem[stem];
    TraceImage image;
    image.segments = readable_run(stem, files, warnings);
    for (const TraceFile* f : files) image.names.push_back(f->name());
    image.name = files.size() == 1 ? files.front()->name() : stem + ".trace";
    images.push_back(std::move(image));
  }
  return images;
}

}  // namespace connleak
