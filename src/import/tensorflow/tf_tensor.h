// TensorFlow's TensorProto and DataType <-> chexrt's HostTensor and DataType.
#pragma once

#include "chexrt/tensor.h"
#include "tf_proto/tf_graph.pb.h"

namespace chexrt::tf_import {

/// chexrt's element type for a TensorFlow one (reference types read as their value type).
Result<DataType> from_tf_dtype(tensorflow::DataType dtype);

/// A constant tensor: tensor_content (raw little-endian) or the typed value lists, where a list
/// shorter than the shape repeats its last value. DT_HALF stays float16 (its 16 bits); DT_DOUBLE
/// is read as float64.
Result<HostTensor> tensor_from_proto(const tensorflow::TensorProto& proto);

/// The dims of a shape; unknown sizes are -1. Fails on an unknown rank.
Result<Dims> dims_from_proto(const tensorflow::TensorShapeProto& shape);

}  // namespace chexrt::tf_import
