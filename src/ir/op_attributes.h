// Typed views of the attributes of sliding-window ops (Conv, MaxPool, AveragePool). Shape
// inference writes them explicitly (kernel_shape, strides, dilations and pads; auto_pad
// resolved), and every later reader goes through these accessors instead of looking attributes
// up by name, so a missing or malformed attribute is reported once, naming the node and field.
#pragma once

#include <cstdint>
#include <vector>

#include "chexrt/status.h"
#include "ir/graph.h"

namespace chexrt::ir {

/// The window of a Conv or pool, one entry per spatial axis; pads are [begin..., end...]
/// (for 2D: top, left, bottom, right).
struct WindowAttributes {
  std::vector<int64_t> kernel_shape;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads;

  size_t num_spatial() const { return kernel_shape.size(); }
  /// Whether the window reads each input pixel on its own: 1x1 kernel, stride 1, no padding.
  bool is_pointwise() const;
};

struct ConvAttributes : WindowAttributes {
  int64_t group = 1;
};

struct PoolAttributes : WindowAttributes {
  bool average = false;  ///< AveragePool (else MaxPool).
  bool ceil_mode = false;
  bool count_include_pad = false;  ///< AveragePool: padded taps count in the divisor.
  int64_t storage_order = 0;       ///< MaxPool's Indices output: 0 row major, 1 column major.
};

/// The attributes of a Conv node. Strides and dilations default to 1, pads to 0 and group to 1;
/// kernel_shape is required. InvalidArgument naming the node and the field when one is missing,
/// has the wrong number of values for the kernel's spatial axes, or is out of range.
Result<ConvAttributes> conv_attributes(const Node& node);

/// The attributes of a MaxPool or AveragePool node, with the same defaults and checks.
Result<PoolAttributes> pool_attributes(const Node& node);

}  // namespace chexrt::ir
