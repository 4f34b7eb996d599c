// A layer's learned blobs: what each layer type expects (shape, and how to seed it when no
// .caffemodel is given), reading them from a caffe.BlobProto, and seeding them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caffe_proto/caffe.pb.h"
#include "chexrt/tensor.h"

namespace chexrt::caffe_import {

/// How a seeded blob is filled: uniform values, the range chosen so that a deep network's
/// activations stay in a useful range (He-style bound for weights).
enum class SeedKind {
  kWeights,      ///< U(-b, b), b = sqrt(6 / fan_in)
  kBias,         ///< U(-0.1, 0.1)
  kMean,         ///< U(-0.1, 0.1)
  kVariance,     ///< U(0.5, 1.5)
  kScaleFactor,  ///< exactly 1 (BatchNorm's moving-average factor)
  kGain,         ///< U(0.5, 1.5) (Scale's multiplier)
};

struct BlobSpec {
  std::string what;  ///< "weights", "bias", ... for messages
  Dims dims;
  SeedKind seed;
  int64_t fan_in = 1;
};

/// The blob's shape: `shape` when present, else the legacy num/channels/height/width.
Dims blob_dims(const caffe::BlobProto& blob);

/// The blob as a float32 tensor of `spec.dims`. Its own shape must equal spec.dims, or (legacy
/// 4-D blobs) equal it after padding spec.dims with leading 1s, as Caffe's Blob::ShapeEquals.
Result<HostTensor> blob_to_tensor(const caffe::BlobProto& blob, const BlobSpec& spec);

/// A seeded tensor of spec.dims; the values depend on (seed, layer name, blob index) only.
HostTensor seeded_blob(const BlobSpec& spec, uint32_t seed, const std::string& layer, int index);

}  // namespace chexrt::caffe_import
