// Engine::infer_concatenated's contract, checked the same way on every engine: the parts of one
// input batch, taken one after another along dim 0.
#pragma once

#include <vector>

#include "chexrt/engine.h"

namespace chexrt {

/// The dims of the parts' concatenation: InvalidArgument unless the engine has one input and
/// the parts are non-empty, of one dtype and of equal rank and trailing dims (whether those fit
/// the engine is for its own input checks).
Result<Dims> concatenated_dims(const Engine& engine, const std::vector<HostTensor>& parts);

}  // namespace chexrt
