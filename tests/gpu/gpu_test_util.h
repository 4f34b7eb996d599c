// Helpers for the CUDA backend's tests: skipping without a GPU, random tensors, comparisons,
// and building small graphs in DenseNet-121's shapes through the public NetworkDefinition API.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "chexrt/builder.h"
#include "chexrt/network.h"
#include "chexrt/tensor.h"
#include "densenet_random.h"

namespace chexrt::gputest {

/// True when the CUDA runtime sees at least one device.
bool have_gpu();

#define CHEXRT_SKIP_WITHOUT_GPU()                                 \
  do {                                                            \
    if (!::chexrt::gputest::have_gpu()) GTEST_SKIP() << "no GPU"; \
  } while (0)

/// True when device 0 has thread-block clusters (compute capability 9.0 and up), which the
/// one-kernel dense layer needs (the builder offers it there).
bool have_large_clusters();

#define CHEXRT_SKIP_WITHOUT_LARGE_CLUSTERS()                                                             \
  do {                                                                                                   \
    if (!::chexrt::gputest::have_large_clusters())                                                       \
      GTEST_SKIP() << "the one-kernel dense layer needs thread-block clusters (compute capability 9.0)"; \
  } while (0)

/// True when device 0 is compute capability 9.0 exactly, where the builder offers its wgmma
/// (sm_90a) kernels.
bool have_sm90();

#define CHEXRT_SKIP_WITHOUT_SM90()                                                                    \
  do {                                                                                                \
    if (!::chexrt::gputest::have_sm90()) GTEST_SKIP() << "wgmma kernels need compute capability 9.0"; \
  } while (0)

/// Build options for a CUDA engine.
BuildOptions cuda_options(Precision precision, int64_t max_batch);

struct Diff {
  double rel_l2 = 0;   ///< ||a - b|| / ||b||
  double max_abs = 0;  ///< max |a - b|
  bool finite = true;  ///< no NaN or Inf in a
};
Diff compare(const HostTensor& a, const HostTensor& b);

/// Layers with random parameters, added to `net` (weights He-initialized so that activations stay
/// of order one through deep stacks).
class LayerMaker {
 public:
  LayerMaker(NetworkDefinition& net, uint32_t seed) : net_(net), rng_(seed) {}
  /// ChannelAffine with scale in [0.5, 1.5], shift in [-0.3, 0.3].
  Tensor affine(const std::string& name, Tensor x, bool relu);
  Tensor conv(const std::string& name, Tensor x, int64_t out_channels, int64_t kernel, int64_t stride, int64_t pad,
              bool bias, bool relu);
  Tensor pool(const std::string& name, Tensor x, bool max, int64_t kernel, int64_t stride, int64_t pad,
              bool count_include_pad = false);
  Tensor head(const std::string& name, Tensor x, int64_t classes);
  std::mt19937& rng() { return rng_; }

 private:
  NetworkDefinition& net_;
  std::mt19937 rng_;
};

/// A small classifier of images (input "image" [max_batch, 3, 32, 32], a 3x3 convolution to 16
/// channels, the head to 14 "probabilities"), weights from seed 5: for the tests of infer_images.
NetworkDefinition small_image_classifier(int64_t max_batch);

/// The stem's max pool and the first two DenseNet layers after it (input "x" [n, 64, 112, 112],
/// output "y", the block's concat), in the form the graph passes produce.
void add_two_dense_layers(NetworkDefinition& net, LayerMaker& m, int64_t n);

}  // namespace chexrt::gputest
