// Finds the nodes no importer function handles before anything is imported, so that one error
// names every one of them (as onnx-tensorrt's op checker does).
#pragma once

#include <vector>

#include "import/tensorflow/tf_importer.h"

namespace chexrt::tf_import {

Status check_ops(const std::vector<const NodeDef*>& nodes);

}  // namespace chexrt::tf_import
