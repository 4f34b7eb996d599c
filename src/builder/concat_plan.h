// Concat elimination, as an analysis: which channel concatenations need no copy because every
// input can be written straight into its slice of the output's buffer.
//
// DenseNet's dense block concatenates the block input with every layer's 32 new channels, and
// each layer reads the concatenation of everything before it. With the plan below all of a
// block's Concats are no-ops: the block's last Concat output owns one buffer, each layer's conv
// writes its 32 channels into their slice of it, and each layer's Concat output is a prefix of
// that buffer (the memory DenseNet's "memory-efficient implementation" saves; ref: Pleiss et
// al. 2017, "Memory-Efficient Implementation of DenseNets").
//
// How a backend uses the plan: value v lives in the buffer of value storage[v] (the root),
// starting at channel channel_offset[v]; a root has storage[v] == v and offset 0 and is an
// ordinary dense tensor with dims of the root value. A placed value is a channel-strided view
// of its root, with C_root = dims(root)[1]:
//   NCHW: element (n, c, h, w) at ((n * C_root + offset + c) * H + h) * W + w, i.e. channel
//         stride H*W and batch stride C_root*H*W (not C_v*H*W);
//   NHWC: element (n, h, w, c) at ((n * H + h) * W + w) * C_root + offset + c, i.e. pixel
//         stride C_root.
// The producer of a placed value writes through that view (the predicate below says which can),
// its readers read through it, and a Concat with concat_in_place[node] runs no kernel at all.
// A root buffer must stay allocated from the first write of any value placed in it to the last
// read of any of them, and no node may overwrite a placed value in place (e.g. an in-place ReLU).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "ir/graph.h"

namespace chexrt::builder {

struct ConcatPlan {
  std::vector<int> storage;             ///< Per value: the root value whose buffer holds it.
  std::vector<int64_t> channel_offset;  ///< Per value: first channel (axis 1) in that buffer.
  std::vector<bool> concat_in_place;    ///< Per node: a Concat whose output is already in place.
};

/// Whether the backend's kernel for `node` can write its output into a channel slice of a larger
/// buffer (with the strides above). Asked for the producers of Concat inputs.
using SliceWriterPredicate = std::function<bool(const ir::Graph& graph, const ir::Node& node)>;

/// Plans the channel Concats (axis 1) of `graph`. Concats on other axes, and those whose inputs
/// cannot all be placed, stay real copies (concat_in_place false) that write their own output.
ConcatPlan plan_concat_elimination(const ir::Graph& graph, const SliceWriterPredicate& can_write_into_slice);

}  // namespace chexrt::builder
