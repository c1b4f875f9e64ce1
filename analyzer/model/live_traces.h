// Follows the traces in a directory while their processes run (connleak
// watch): each look picks up new trace files and reads only the records
// appended since the last one, into one lifetime model that stays current.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "trace/growing_trace.h"
#include "model/model.h"
#include "model/replay.h"

namespace connleak {

class LiveTraces {
 public:
  explicit LiveTraces(std::string directory);
  LiveTraces(const LiveTraces&) = delete;
  LiveTraces& operator=(const LiveTraces&) = delete;

  // One look. Returns the number of records read. A trace that cannot be
  // read is left out, with a warning (take_warnings), once.
  size_t refresh();

  const Model& model() const { return model_; }
  // The process has ended (its end record, or an exec into another image).
  bool ended(int process) const { return followed_[size_t(process)].replay->ended(); }
  std::vector<std::string> take_warnings();

 private:
  struct Followed {
    std::unique_ptr<GrowingTrace> trace;
    std::unique_ptr<detail::Replay> replay;
    bool exited = false;  // read to its end record: nothing more will come
    unsigned segment = 0;  // the segment being read (bounded traces rotate)
  };
  void follow_next_segment(Followed& f);
  void add_new_traces();
  bool parent_ready(const GrowingTrace& trace, const std::set<std::string>& pending) const;
  void follow(std::unique_ptr<GrowingTrace> trace);
  void read_counters(int process);

  std::string directory_;
  Model model_;
  detail::ForkRegistry forks_;
  std::vector<Followed> followed_;  // by process index
  std::map<std::string, int> process_of_trace_;
  std::set<std::string> unreadable_;
  std::vector<std::string> warnings_;
};

}  // namespace connleak
