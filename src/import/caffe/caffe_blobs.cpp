#include "import/caffe/caffe_blobs.h"

#include <cmath>
#include <random>

namespace chexrt::caffe_import {

Dims blob_dims(const caffe::BlobProto& blob) {
  if (blob.has_shape()) return Dims(blob.shape().dim().begin(), blob.shape().dim().end());
  return {blob.num(), blob.channels(), blob.height(), blob.width()};
}

Result<HostTensor> blob_to_tensor(const caffe::BlobProto& blob, const BlobSpec& spec) {
  const Dims dims = blob_dims(blob);
  bool fits = dims == spec.dims;
  if (!fits && !blob.has_shape() && spec.dims.size() <= 4) {
    Dims padded(4 - spec.dims.size(), 1);
    padded.insert(padded.end(), spec.dims.begin(), spec.dims.end());
    fits = dims == padded;
  }
  if (!fits) {
    return invalid_argument(spec.what + " blob is " + dims_to_string(dims) + ", the layer needs " +
                            dims_to_string(spec.dims));
  }
  if (blob.has_raw_data() || blob.has_raw_data_type()) {
    return unsupported(spec.what + " blob is stored as raw_data (NVIDIA Caffe), which is not supported");
  }
  const int64_t n = num_elements(spec.dims);
  HostTensor t(DataType::kFloat32, spec.dims);
  float* out = t.data<float>();
  if (blob.data_size() == n) {
    for (int64_t i = 0; i < n; ++i) out[i] = blob.data(static_cast<int>(i));
  } else if (blob.double_data_size() == n) {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(blob.double_data(static_cast<int>(i)));
  } else {
    return invalid_argument(spec.what + " blob " + dims_to_string(dims) + " holds " +
                            std::to_string(blob.data_size() + blob.double_data_size()) + " values, expected " +
                            std::to_string(n));
  }
  return t;
}

namespace {

// FNV-1a: a layer's seeds must not depend on the standard library's std::hash.
uint32_t fnv1a(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

}  // namespace

HostTensor seeded_blob(const BlobSpec& spec, uint32_t seed, const std::string& layer, int index) {
  // std::mt19937's sequence is fixed by the standard; the distributions are not, so values are
  // made from its raw 32-bit outputs: u = top 24 bits / 2^24 in [0, 1).
  std::seed_seq seq{seed, fnv1a(layer), static_cast<uint32_t>(index)};
  std::mt19937 gen(seq);
  float lo = -0.1f, hi = 0.1f;
  switch (spec.seed) {
    case SeedKind::kWeights:
      hi = static_cast<float>(std::sqrt(6.0 / static_cast<double>(std::max<int64_t>(spec.fan_in, 1))));
      lo = -hi;
      break;
    case SeedKind::kVariance:
    case SeedKind::kGain:
      lo = 0.5f;
      hi = 1.5f;
      break;
    case SeedKind::kScaleFactor:
      lo = hi = 1.f;
      break;
    case SeedKind::kBias:
    case SeedKind::kMean:
      break;
  }
  HostTensor t(DataType::kFloat32, spec.dims);
  float* out = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const float u = static_cast<float>(gen() >> 8) * (1.f / 16777216.f);
    out[i] = lo + (hi - lo) * u;
  }
  return t;
}

}  // namespace chexrt::caffe_import
