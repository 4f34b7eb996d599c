// How the CUDA backend lays a graph out on the device, decided before any CUDA call (so it is
// tested without a GPU):
//  - every activation is NHWC (2D [N, C] values are NHWC with H = W = 1) in one arena;
//  - a value may be a channel slice of a larger buffer (src/builder/concat_plan.h): its pixel
//    stride `ld` is the buffer's channel count, and in-place Concats run no kernel;
//  - a ChannelAffine read only by a 1x1 convolution, a pool or the classifier head is applied by
//    that consumer as it loads its input, and its output never exists;
//  - Flatten / Reshape / Identity of an [N, C, 1, 1] or [N, C] value are views of their input;
//  - buffers get arena offsets from src/builder/memory_planner.h over step lifetimes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "builder/concat_plan.h"
#include "chexrt/builder.h"
#include "ir/graph.h"

namespace chexrt::cuda {

struct ValueLayout {
  bool on_device = false;              ///< An activation in the arena (false: constant, or never materialized).
  int buffer = -1;                     ///< Index into ExecutionPlan::buffers.
  int64_t channel_offset = 0;          ///< First channel inside the buffer's pixel.
  int64_t ld = 0;                      ///< Pixel stride in elements (the buffer's channel count).
  int64_t n = 0, h = 1, w = 1, c = 0;  ///< Logical NHWC at the max batch.
  int64_t c_stored = 0;                ///< Channels the producer writes: c, or c rounded up with zeros.
  /// 2 for a graph input read only by a stride-2 convolution (the stem): stored
  /// space-to-depth, pixel (Y, X) holding the 2x2 block (2Y + dy, 2X + dx) as channels
  /// (dy * 2 + dx) * C + c. Then h, w, c above are the stored ones (H/2, W/2, 4C). The stride-2
  /// convolution becomes a stride-1 one with reads that coalesce (ref: the "space-to-depth"
  /// stem of MLPerf ResNet-50 submissions).
  int64_t space_to_depth = 1;
};

enum class StepKind {
  kInput,       ///< Host-order float32 NCHW staging -> NHWC activation.
  kConv,        ///< Conv, optionally with a ChannelAffine prologue.
  kChannelMap,  ///< ChannelAffine / BatchNormalization / Relu / Sigmoid standing alone.
  kPool,        ///< MaxPool / AveragePool, optionally with a ChannelAffine prologue.
  kHead,        ///< ClassifierHead / GlobalAveragePool / Gemm, optionally with a prologue.
  kConcatCopy,  ///< A Concat that could not be done in place.
  kOutput,      ///< NHWC activation -> float32 NCHW staging for the host.
};

struct StepDesc {
  StepKind kind = StepKind::kInput;
  int node = -1;            ///< The graph node it runs (-1 for kInput / kOutput).
  int prologue = -1;        ///< A ChannelAffine node applied to the main input on load, or -1.
  int io_index = -1;        ///< kInput / kOutput: index into graph.inputs() / graph.outputs().
  std::vector<int> reads;   ///< Values read (activations only).
  std::vector<int> writes;  ///< Values written.
};

struct BufferDesc {
  int root = -1;      ///< The value that owns the buffer.
  int64_t bytes = 0;  ///< At the max batch.
  int first_step = 0, last_step = 0;
  int64_t offset = 0;  ///< In the arena.
};

struct ExecutionPlan {
  Precision precision = Precision::kFp32;
  int64_t max_batch = 1;
  int64_t elem_size = 4;
  std::vector<ValueLayout> values;
  std::vector<StepDesc> steps;
  std::vector<BufferDesc> buffers;
  int64_t arena_bytes = 0;
  /// Per node: the step running it, or -1 (fused into another step, in-place Concat, view).
  std::vector<int> node_step;
  /// Per node without a step: why ("fused into conv1", "in place", "view").
  std::vector<std::string> node_note;
};

/// Whether this layout can place the node at all (ops, ranks, constant weights, attributes).
bool plan_supports(const ir::Graph& graph, const ir::Node& node, std::string* why);

/// The optimization profile that runs `batch` (see CudaEngine): the smallest power of two at
/// least `batch`, capped at max_batch.
int64_t profile_batch(int64_t batch, int64_t max_batch);

/// Plans the graph; fails naming the node it cannot place.
Result<ExecutionPlan> make_plan(const ir::Graph& graph, int64_t max_batch, Precision precision);

/// A ChannelAffine (or nothing) that a consumer may apply on load, with its scale and shift
/// as constants; `relu` from its activation attribute.
struct AffineParams {
  std::vector<float> scale, shift;
  bool relu = false;
};
Result<AffineParams> affine_params(const ir::Graph& graph, const ir::Node& node);

}  // namespace chexrt::cuda
