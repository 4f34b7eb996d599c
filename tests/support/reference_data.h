// Helpers shared by the test tiers: the reference images and PyTorch outputs that
// scripts/make_reference_model.py writes to models/generated/reference (manifest.json + .npy
// files), the error measure the whole-model tests use, and seeded random tensors.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "chexrt/tensor.h"

namespace chexrt::testing {

struct ReferenceImage {
  std::string image;      ///< The source X-ray, relative to the repository.
  HostTensor input;       ///< [1, 3, 224, 224] float32, preprocessed by PIL + torchvision.
  HostTensor output;      ///< [1, 14] float32, PyTorch in float32.
  HostTensor output_f64;  ///< [1, 14] float64, PyTorch in float64.
};

struct ReferenceSet {
  std::string model_path;  ///< The seeded ONNX model these outputs came from.
  std::vector<ReferenceImage> entries;
};

/// Reads `<generated_dir>/reference/manifest.json` and its tensors. NotFound (saying which
/// script makes them) when they are missing: the whole-model tests fail then, never skip.
Result<ReferenceSet> load_reference_set(const std::string& generated_dir);

/// float32 tensor of uniform random values in [lo, hi), the same for the same seed.
HostTensor random_uniform(const Dims& dims, uint32_t seed, float lo = -1.f, float hi = 1.f);

/// ||got - want||_2 / ||want||_2 over all elements.
double relative_error(const HostTensor& got, const HostTensor& want);

/// A test suite that loads the reference set of CHEXRT_GENERATED_DIR once. references() fails
/// the calling test (it does not skip it) when the generated files are missing or unreadable.
class ReferenceSetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  const ReferenceSet* references();

 private:
  static Result<ReferenceSet>* set_;
};

}  // namespace chexrt::testing
