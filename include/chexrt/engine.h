// Engine: an optimized, ready-to-run network on one backend (reference, CPU or CUDA).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chexrt/status.h"
#include "chexrt/tensor.h"

namespace chexrt {

struct TensorInfo {
  std::string name;
  DataType dtype = DataType::kFloat32;
  Dims dims;  ///< At the engine's max batch; dim 0 is the batch.
};

class Engine {
 public:
  virtual ~Engine() = default;

  /// "reference", "cpu-onednn", "cuda".
  virtual std::string backend_name() const = 0;
  virtual const std::vector<TensorInfo>& inputs() const = 0;
  virtual const std::vector<TensorInfo>& outputs() const = 0;
  /// Largest batch (dim 0 of every input) that infer() accepts.
  virtual int64_t max_batch() const = 0;

  /// Runs one inference on host tensors given in the order of inputs(). The batch may be any
  /// size from 1 to max_batch(); outputs come back with the same batch.
  virtual Status infer(const std::vector<HostTensor>& inputs, std::vector<HostTensor>* outputs) = 0;

  /// One line per layer: name, kernel (tactic) and precision, for `chexrt inspect`.
  virtual std::string describe_layers() const = 0;
};

}  // namespace chexrt
