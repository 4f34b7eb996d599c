// The Caffe layer checker: before anything is built, every included layer's type, bottoms, tops
// and parameters are checked, and every unsupported layer is named at once.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "import/caffe/caffe_importer.h"

namespace chexrt::caffe_import {

/// A text-format field the schema does not know, at a line of the .prototxt (1-based).
struct UnknownField {
  int line = 0;
  std::string message;
};

/// Checks the layers of `model` (bottoms resolved, versions made) and the fields of the
/// .prototxt that the schema did not know, by layer (-1: outside any layer).
Status check_layers(const NetModel& model, const std::map<int, std::vector<UnknownField>>& unknown_fields);

}  // namespace chexrt::caffe_import
