// The one-sentence message of each finding, per kind.
#pragma once

#include <string>
#include <vector>

#include "detectors/detectors.h"
#include "model/model.h"
#include "report/report.h"

namespace connleak {

// `finding` has its kind and instances; `group` are the leaks behind it.
std::string finding_message(const Finding& finding, const Model& model, const std::vector<Leak>& group);

}  // namespace connleak
