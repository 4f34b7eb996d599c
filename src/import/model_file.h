// Reading a model file whole, as the importers hand it to protobuf.
#pragma once

#include <string>

#include "chexrt/status.h"

namespace chexrt::import {

/// The bytes of `path`; IoError naming the file when it cannot be opened or read.
Result<std::string> read_model_file(const std::string& path);

}  // namespace chexrt::import
