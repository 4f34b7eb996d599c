// Shape and type inference. Also canonicalizes attributes so that every later stage sees one
// form: convolution and pooling get explicit `kernel_shape`, `strides`, `dilations` and `pads`
// (auto_pad resolved), negative axes are made positive, and axes given as inputs (Reduce*,
// Unsqueeze, Squeeze in newer opsets) become attributes.
#pragma once

#include "ir/graph.h"

namespace chexrt::ir {

/// Infers the output dtypes and dims of one node from its inputs. Errors name the node.
Status infer_node_shapes(Graph& graph, int node);

/// Infers every node in order (after inputs changed shape, for instance).
Status infer_shapes(Graph& graph);

/// Output spatial size of a sliding window (convolution or pooling) along one axis.
int64_t window_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin,
                           int64_t pad_end, bool ceil_mode);

/// Multidirectional (numpy) broadcast of two shapes; fails when they are incompatible.
Result<Dims> broadcast_dims(const Dims& a, const Dims& b);

/// Multiply-accumulate FLOPs (2 per MAC) of one node, given inferred shapes; 0 for data movement.
int64_t node_flops(const Graph& graph, int node);

}  // namespace chexrt::ir
