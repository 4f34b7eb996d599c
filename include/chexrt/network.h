// NetworkDefinition: the model as layers added one by one, before any optimization.
//
// Importers (ONNX) and hand-written model builders (examples/densenet_from_weights.cpp) are
// both clients of this API. Each add_* call checks its inputs and infers the output shape at
// once; on failure it returns an invalid Tensor and records the first error, which status()
// reports with the layer's name (like TensorRT, whose add* calls return null).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chexrt/status.h"
#include "chexrt/tensor.h"

namespace chexrt {

namespace ir {
class Graph;
}

/// A handle to a tensor of a NetworkDefinition (an index into it). Invalid when id < 0.
struct Tensor {
  int id = -1;
  bool valid() const { return id >= 0; }
};

enum class Activation { kRelu, kSigmoid };
enum class PoolType { kMax, kAverage };
enum class ElementwiseOp { kAdd, kSub, kMul, kDiv };

/// Sliding-window geometry, per spatial axis. Empty vectors mean stride 1, dilation 1, no pad.
/// `pads` is [begin_0, begin_1, ..., end_0, end_1, ...] as in ONNX.
struct WindowParams {
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads;
  /// "NOTSET", "SAME_UPPER", "SAME_LOWER" or "VALID".
  std::string auto_pad = "NOTSET";
};

struct PoolParams {
  WindowParams window;
  bool ceil_mode = false;
  bool count_include_pad = false;  ///< Average pooling only.
};

/// A layer type and attributes in ONNX's vocabulary, for layers without a typed helper.
/// Attribute values: int64, float, string, list of int64, list of float.
struct LayerAttribute {
  std::string name;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::string str;
  enum Kind { kInt, kFloat, kString, kInts, kFloats } kind = kInt;

  static LayerAttribute integer(std::string n, int64_t v) { return {std::move(n), {v}, {}, {}, kInt}; }
  static LayerAttribute real(std::string n, float v) { return {std::move(n), {}, {v}, {}, kFloat}; }
  static LayerAttribute string(std::string n, std::string v) { return {std::move(n), {}, {}, std::move(v), kString}; }
  static LayerAttribute integers(std::string n, std::vector<int64_t> v) {
    return {std::move(n), std::move(v), {}, {}, kInts};
  }
  static LayerAttribute reals(std::string n, std::vector<float> v) {
    return {std::move(n), {}, std::move(v), {}, kFloats};
  }
};

class NetworkDefinition {
 public:
  NetworkDefinition();
  ~NetworkDefinition();
  NetworkDefinition(NetworkDefinition&&) noexcept;
  NetworkDefinition& operator=(NetworkDefinition&&) noexcept;

  Tensor add_input(const std::string& name, DataType dtype, const Dims& dims);
  /// Weights or other constant data. Empty name: a unique one is made.
  Tensor add_constant(const std::string& name, HostTensor value);

  /// weight: [out_channels, in_channels / groups, k...]; bias: [out_channels] or empty.
  Tensor add_convolution(const std::string& name, Tensor input, HostTensor weight, HostTensor bias,
                         const WindowParams& window, int64_t groups = 1);
  /// Inference-form batch norm: y = (x - mean) / sqrt(var + eps) * scale + bias, per channel.
  Tensor add_batch_norm(const std::string& name, Tensor input, HostTensor scale, HostTensor bias, HostTensor mean,
                        HostTensor var, float epsilon);
  Tensor add_activation(const std::string& name, Tensor input, Activation type);
  Tensor add_pooling(const std::string& name, Tensor input, PoolType type, const PoolParams& params);
  Tensor add_global_average_pool(const std::string& name, Tensor input);
  Tensor add_concat(const std::string& name, const std::vector<Tensor>& inputs, int64_t axis);
  /// y = x * weight^T + bias, x: [N, in], weight: [out, in], bias: [out] or empty.
  Tensor add_fully_connected(const std::string& name, Tensor input, HostTensor weight, HostTensor bias);
  Tensor add_matmul(const std::string& name, Tensor a, Tensor b);
  Tensor add_elementwise(const std::string& name, Tensor a, Tensor b, ElementwiseOp op);
  Tensor add_flatten(const std::string& name, Tensor input, int64_t axis = 1);
  /// ONNX Reshape semantics: 0 copies a dimension, -1 is inferred.
  Tensor add_reshape(const std::string& name, Tensor input, const std::vector<int64_t>& shape);
  Tensor add_transpose(const std::string& name, Tensor input, const std::vector<int64_t>& perm);
  Tensor add_softmax(const std::string& name, Tensor input, int64_t axis);

  /// Any op of chexrt's op list by its ONNX name ("Gemm", "ReduceSum", ...), with ONNX
  /// attributes. `num_outputs` outputs are made; returns them all (empty on failure).
  std::vector<Tensor> add_layer(const std::string& op, const std::string& name, const std::vector<Tensor>& inputs,
                                const std::vector<LayerAttribute>& attributes, int num_outputs = 1,
                                const std::vector<std::string>& output_names = {});

  void mark_output(Tensor t, const std::string& name = "");

  /// Renames a tensor (importers keep the model's own tensor names).
  void set_tensor_name(Tensor t, const std::string& name);
  std::string tensor_name(Tensor t) const;
  Dims tensor_dims(Tensor t) const;
  DataType tensor_dtype(Tensor t) const;
  /// The tensor with that name, or an invalid handle.
  Tensor find_tensor(const std::string& name) const;

  /// The first error met while building, or ok.
  const Status& status() const;

  int num_layers() const;
  int64_t num_parameters() const;

  /// The graph behind the definition (for the builder and passes; not a stable API).
  ir::Graph& graph();
  const ir::Graph& graph() const;

  struct Impl;  // opaque

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace chexrt
