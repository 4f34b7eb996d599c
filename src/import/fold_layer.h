// Constant folding at import time, shared by the importers: one layer whose inputs are all known
// when the model is read is run on the reference kernels instead of entering the network.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "chexrt/network.h"
#include "chexrt/tensor.h"
#include "ir/graph.h"
#include "ir/ops.h"

namespace chexrt::import {

/// One input of a layer to fold: its value, or (for Shape, which needs only dims) its dtype and
/// dims alone. An empty name is an absent optional input.
struct FoldInput {
  std::string name;
  const HostTensor* constant = nullptr;  ///< null: only dtype and dims are known
  DataType dtype = DataType::kFloat32;
  Dims dims;
};

/// Builds the layer alone in a scratch graph (so that shape inference canonicalizes it exactly as
/// in the network) and computes its outputs: Shape from its input's dims, other ops on the
/// reference kernels. `output_names` name the outputs inside the scratch graph ("" for an absent
/// optional output). nullopt when the reference backend has no kernel for the layer.
Result<std::optional<std::vector<HostTensor>>> fold_layer(ir::OpType op, const std::string& layer,
                                                          const std::vector<FoldInput>& inputs,
                                                          const ir::Attributes& attrs,
                                                          const std::vector<std::string>& output_names);

/// The IR's attributes as NetworkDefinition::add_layer takes them.
std::vector<LayerAttribute> to_layer_attributes(const ir::Attributes& attrs);

}  // namespace chexrt::import
