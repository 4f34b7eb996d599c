// The pieces a CPU engine is made of: a workspace (one arena holding every activation, laid out
// once at build time) and steps (one per node that runs a kernel, in graph order).
//
// Layout: 4-D activations are NHWC, float32 or bfloat16. NHWC because oneDNN's AMX kernels take
// bfloat16 only in NHWC (its blocked nChw16c kernels fall back to AVX-512 BF16 dot products at
// half the float32 speed), and in float32 it is on par with nChw16c on DenseNet's shapes.
// Values that src/builder/concat_plan.h places into a Concat's buffer are channel slices of it;
// oneDNN's JIT kernels refuse such strided views (they fall back to its reference code), so a
// convolution reading or writing one goes through a dense scratch buffer, while the hand-written
// kernels (cpu_kernels.h) read and write the slices directly.
// The exception, float32 only: a DenseNet bottleneck (pre-activation affine -> 1x1 conv -> 3x3
// conv) whose 3x3 conv runs as Winograd keeps its two private intermediates in nChw16c, the only
// layout of oneDNN's Winograd, so that no reorder runs between them (see cpu_engine.cpp).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/cpu/cpu_kernels.h"
#include "chexrt/tensor.h"

namespace chexrt::cpu {

/// A 64-byte aligned heap block (oneDNN's JIT kernels and the AVX-512 kernels read whole lines).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);
  char* get() const { return data_.get(); }

 private:
  struct FreeDeleter {
    void operator()(char* p) const;
  };
  std::unique_ptr<char, FreeDeleter> data_;
};

/// Every activation buffer of an engine, in one arena. Buffers whose lifetimes (in steps) do not
/// overlap share memory. Sizes are for the engine's largest batch; a smaller batch uses a prefix
/// of each buffer (dim 0 is outermost).
class Workspace {
 public:
  Workspace(Storage storage, int64_t max_batch) : storage_(storage), max_batch_(max_batch) {}

  Storage storage() const { return storage_; }
  int64_t max_batch() const { return max_batch_; }
  size_t element_size() const { return storage_ == Storage::kF32 ? 4 : 2; }

  /// A new buffer of `bytes`; returns its id.
  int add_buffer(int64_t bytes);
  /// Marks the buffer as live during `step`.
  void use(int buffer, int step);
  /// Assigns offsets (first fit over buffers live at the same time) and allocates the arena.
  void allocate();
  int64_t arena_bytes() const { return arena_bytes_; }
  char* data(int buffer) const { return arena_.get() + buffers_[buffer].offset; }

  /// Value `value` (dims NCHW at max batch) lives in `buffer`, whose channel count is
  /// `buffer_channels`, from channel `channel_offset`.
  void place(int value, const Dims& dims, int buffer, int64_t channel_offset, int64_t buffer_channels);
  bool is_placed(int value) const { return values_.count(value) != 0; }
  int buffer_of(int value) const { return values_.at(value).buffer; }
  /// The NHWC view of a 4-D value at `batch`.
  NhwcView view(int value, int64_t batch) const;
  /// Where a value starts (its first channel of its first image), whatever its layout.
  void* data_of(int value) const;
  /// A dense NHWC view of a scratch buffer holding NCHW dims `dims` (batch replaced).
  NhwcView dense_view(int buffer, const Dims& dims, int64_t batch) const;

 private:
  struct Buffer {
    int64_t bytes = 0;
    int64_t offset = 0;
    int first_step = -1, last_step = -1;
  };
  struct Placement {
    Dims dims;
    int buffer = -1;
    int64_t channel_offset = 0;
    int64_t buffer_channels = 0;
  };
  Storage storage_;
  int64_t max_batch_;
  std::vector<Buffer> buffers_;
  std::map<int, Placement> values_;
  AlignedBuffer arena_;
  int64_t arena_bytes_ = 0;
};

/// The same view restricted to channels [c0, c0 + c).
NhwcView channel_slice(const NhwcView& view, int64_t c0, int64_t c);

/// One node (or a node with a fused predecessor) as run by the engine.
class Step {
 public:
  explicit Step(std::string name) : name_(std::move(name)) {}
  virtual ~Step() = default;

  const std::string& name() const { return name_; }
  /// What runs, e.g. "conv2d_f32_nhwc_bias_relu__onednn:brgconv_1x1:avx512_core"; the oneDNN
  /// implementation is the one chosen for the largest batch.
  virtual std::string kernel() const = 0;
  /// Creates what running at `batch` needs (oneDNN primitives, bound to the workspace) and
  /// returns the oneDNN scratchpad bytes it needs; bind_scratchpad() then gives it that memory.
  virtual Result<size_t> prepare(int64_t batch, const Workspace& ws) { return size_t{0}; }
  virtual void bind_scratchpad(int64_t batch, void* scratchpad) {}
  virtual void run(int64_t batch, const Workspace& ws, dnnl::stream& stream) = 0;

  /// Values read and written, and scratch buffers used, for the workspace's liveness.
  std::vector<int> reads, writes, scratch;

 private:
  std::string name_;
};

/// Pre-activation affine (+ ReLU) owned by a step; a fused ChannelAffine / BatchNormalization /
/// Relu in front of a kernel, or the node's own operation.
struct OwnedPreOp {
  std::vector<float> scale, shift;  ///< Empty: identity.
  bool relu = false;
  PreOp get() const { return {scale.empty() ? nullptr : scale.data(), shift.empty() ? nullptr : shift.data(), relu}; }
  bool empty() const { return scale.empty() && !relu; }
  /// "affine_relu_", "relu_", "affine_" or "".
  std::string name() const;
};

struct ConvGeometry {
  Dims src, dst;  ///< NCHW at the largest batch.
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
};

struct ConvSpec {
  ConvGeometry geometry;
  HostTensor weight;  ///< OIHW float32.
  HostTensor bias;    ///< [O] float32, or empty.
  bool relu = false;
  int src = -1, dst = -1;  ///< Values.
  /// Computes in nChw16c (float32 only) instead of NHWC: src is then an nChw16c value, and dst
  /// one too unless dst_scratch is set.
  bool blocked = false;
  bool winograd = false;  ///< Winograd instead of direct (blocked only).
  /// Dense buffers (or -1) for an NHWC input that is a channel slice (gathered first), and for an
  /// output that is a channel slice or NHWC after a blocked convolution (copied out after).
  int src_scratch = -1, dst_scratch = -1;
};

/// oneDNN convolution with bias and ReLU post-op; weights reordered once per layout oneDNN asks
/// for.
std::unique_ptr<Step> make_conv_step(const std::string& name, const dnnl::engine& engine, const ConvSpec& spec);

/// y = pre(x): ChannelAffine, BatchNormalization, Relu, and slice copies; y in nChw16c when
/// `dst_blocked`.
std::unique_ptr<Step> make_transform_step(const std::string& name, OwnedPreOp pre, int src, int dst,
                                          bool dst_blocked = false);

/// Max / average pooling with an optional fused pre-op.
std::unique_ptr<Step> make_pool_step(const std::string& name, OwnedPreOp pre, const PoolWindow& window, int src,
                                     int dst);

/// A Concat that is not in place: copies each input into its channel slice of the output.
std::unique_ptr<Step> make_concat_step(const std::string& name, std::vector<int> srcs, int dst);

/// Global average pool + fully connected + optional sigmoid, with an optional fused pre-op; the
/// output value is a dense [N, K] float32 buffer; `pooled_scratch` holds N * C floats.
std::unique_ptr<Step> make_head_step(const std::string& name, OwnedPreOp pre, HostTensor weight, HostTensor bias,
                                     bool sigmoid, int src, int dst, int pooled_scratch);

}  // namespace chexrt::cpu
