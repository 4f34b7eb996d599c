// One importer function per TensorFlow op. tf_ops.cpp holds the table and the layer ops
// (convolution, normalization, pooling, elementwise, reductions, matmul); tf_shape_ops.cpp the
// graph plumbing (Const, Placeholder, Identity, Switch/Merge, Shape/StridedSlice/Pack, Reshape,
// Squeeze, ExpandDims, Transpose).
#pragma once

#include <string>
#include <vector>

#include "import/tensorflow/tf_importer.h"

namespace chexrt::tf_import {

using ImportFn = Status (*)(Importer&, const NodeDef&);

/// The importer of an op type, or nullptr.
ImportFn find_importer(const std::string& op);
/// Every op type with an importer, sorted.
std::vector<std::string> op_types();

Status import_const(Importer& im, const NodeDef& node);
Status import_placeholder(Importer& im, const NodeDef& node);
Status import_identity(Importer& im, const NodeDef& node);
Status import_noop(Importer& im, const NodeDef& node);
Status import_switch(Importer& im, const NodeDef& node);
Status import_merge(Importer& im, const NodeDef& node);
Status import_shape(Importer& im, const NodeDef& node);
Status import_strided_slice(Importer& im, const NodeDef& node);
Status import_pack(Importer& im, const NodeDef& node);
Status import_reshape(Importer& im, const NodeDef& node);
Status import_squeeze(Importer& im, const NodeDef& node);
Status import_expand_dims(Importer& im, const NodeDef& node);
Status import_transpose(Importer& im, const NodeDef& node);

}  // namespace chexrt::tf_import
