// Helpers for the pass tests: random weights from a fixed seed, small hand-built graphs (a
// mini DenseNet with the torchvision export's structure), and a before/after comparison of a
// graph's outputs on the reference executor.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "chexrt/network.h"
#include "ir/graph.h"

namespace chexrt::test {

/// Uniform in [lo, hi), drawn from `rng`.
HostTensor random_tensor(const Dims& dims, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f);

/// A batch norm with random parameters (positive variance) on `x`.
Tensor add_random_batch_norm(NetworkDefinition& net, const std::string& name, Tensor x, std::mt19937& rng);

/// A convolution with random weights; `bias` adds a random bias.
Tensor add_random_conv(NetworkDefinition& net, const std::string& name, Tensor x, int64_t out_channels, int64_t kernel,
                       int64_t stride, int64_t pad, bool bias, std::mt19937& rng, int64_t groups = 1);

/// DenseNet's structure in miniature, as torchvision's ONNX export lays it out: stem Conv7x7 ->
/// BN -> Relu -> MaxPool; dense layers Concat -> BN -> Relu -> Conv1x1 -> BN -> Relu -> Conv3x3,
/// each with its own Concat (the first of one input); a transition BN -> Relu -> Conv1x1 ->
/// AveragePool 2x2; then BN -> Relu -> GlobalAveragePool -> Flatten -> Identity (an exported
/// Dropout) -> Gemm(transB=1) -> Sigmoid. Input [batch, 3, 32, 32], growth 4, blocks of
/// `block_layers` layers, 3 classes, output "probabilities".
NetworkDefinition make_mini_densenet(uint32_t seed, int64_t batch = 2, std::vector<int> block_layers = {3, 2});

/// Random inputs for every graph input, from `seed`.
std::vector<HostTensor> random_inputs(const ir::Graph& graph, uint32_t seed);

/// max |a - b| / max |b| over all elements (0 when both are all zero).
double relative_error(const HostTensor& a, const HostTensor& b);

/// Runs both graphs on the same random inputs (reference executor) and expects every output
/// to agree within `tolerance` (relative_error), with equal dims.
void expect_same_outputs(const ir::Graph& before, const ir::Graph& after, uint32_t seed, double tolerance = 1e-5);

/// Op name -> number of nodes.
std::map<std::string, int> op_counts(const ir::Graph& graph);

/// The ops of the nodes in order, e.g. {"Conv", "AveragePool"}.
std::vector<std::string> op_sequence(const ir::Graph& graph);

}  // namespace chexrt::test
