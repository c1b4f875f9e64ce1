// Builds the timeline (timeline.h) from the lifetime model, with each bar
// marked by the finding of the report that names it.
#pragma once

#include "model/model.h"
#include "report/report.h"
#include "symbols/symbolizer.h"
#include "report/timeline.h"

namespace connleak {

// The model must have been built with ModelOptions::keep_closed, or only
// the sockets still open at the end are drawn.
Timeline build_timeline(const Model& model, const Report& report, Symbolizer& symbolizer);

}  // namespace connleak
