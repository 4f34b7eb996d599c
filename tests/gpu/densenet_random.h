// Random tensors and a random-weight DenseNet-121 parameter source, shared by the GPU tests and
// bench/gpu_bench.cpp (no test framework here).
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "chexrt/tensor.h"

namespace chexrt::gputest {

HostTensor random_normal(const Dims& dims, std::mt19937& rng, float stddev = 1.f, float mean = 0.f);
HostTensor random_uniform(const Dims& dims, std::mt19937& rng, float lo, float hi);

/// A torchvision-style DenseNet-121 + CheXNet-head parameter for `key` (shapes follow the
/// architecture): He-initialized convolutions, batch norms with gamma in [0.5, 1.5], beta and
/// mean in [-0.2, 0.2], var in [0.5, 1.5]. Deterministic in (key, seed).
Result<HostTensor> densenet121_random_weight(const std::string& key, uint32_t seed);

}  // namespace chexrt::gputest
