// Graph plumbing: constants, placeholders, aliases, the constant-predicate Switch/Merge of
// frozen Keras graphs, and the shape arithmetic (Shape, StridedSlice, Pack) that folds to
// constants because every shape is known when the engine is built.
#include <algorithm>
#include <cstring>

#include "import/tensorflow/tf_ops.h"
#include "import/tensorflow/tf_tensor.h"

namespace chexrt::tf_import {

namespace {

HostTensor int_tensor(DataType dtype, const std::vector<int64_t>& values, Dims dims) {
  HostTensor t(dtype, std::move(dims));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DataType::kInt32) {
      t.data<int32_t>()[i] = static_cast<int32_t>(values[i]);
    } else {
      t.data<int64_t>()[i] = values[i];
    }
  }
  return t;
}

// Reshape to TensorFlow dims known here (no 0 or -1 left for the network's ONNX semantics).
Status reshape_to(Importer& im, const NodeDef& node, const std::string& x, const Dims& dims) {
  CHEXRT_ASSIGN_OR_RETURN(std::string in, im.as_tf(x));
  if (num_elements(dims) != num_elements(im.symbol(in).dims)) {
    return invalid_argument("cannot reshape " + dims_to_string(im.symbol(in).dims) + " to " + dims_to_string(dims));
  }
  // An NHWC image of 1x1 pixels has its NCHW form's order: reshape straight to that.
  const bool to_nchw = im.graph_nhwc() && dims.size() == 4 && dims[1] == 1 && dims[2] == 1 &&
                       im.constant(in) == nullptr && im.symbol(in).dtype == DataType::kFloat32;
  const Dims target = to_nchw ? Dims{dims[0], dims[3], 1, 1} : dims;
  const std::string shape =
      im.add_constant(node.name() + "/shape", HostTensor::from_int64s(target, {static_cast<int64_t>(target.size())}));
  return im.emit("Reshape", node.name(), {in, shape}, {}, {node.name()}, to_nchw);
}

}  // namespace

Status import_const(Importer& im, const NodeDef& node) {
  auto it = node.attr().find("value");
  if (it == node.attr().end() || !it->second.has_tensor()) return invalid_argument("has no value");
  auto value = tensor_from_proto(it->second.tensor());
  if (!value.ok()) return value.status();
  const auto& feed = im.options().constants_as_inputs;
  if (std::find(feed.begin(), feed.end(), node.name()) != feed.end()) {
    return im.add_input(node.name(), value->dtype(), value->dims());
  }
  im.define_constant(node.name(), std::move(*value));
  return Status::ok_status();
}

Status import_placeholder(Importer& im, const NodeDef& node) {
  auto type = node.attr().find("dtype");
  if (type == node.attr().end()) return invalid_argument("has no dtype");
  CHEXRT_ASSIGN_OR_RETURN(DataType dtype, from_tf_dtype(type->second.type()));
  Dims dims;
  auto given = im.options().input_shapes.find(node.name());
  if (given != im.options().input_shapes.end()) {
    dims = given->second;  // the network's layout: back to the graph's for add_input
    if (dims.size() == 4 && im.graph_nhwc()) dims = {dims[0], dims[2], dims[3], dims[1]};
  } else {
    auto shape = node.attr().find("shape");
    if (shape == node.attr().end() || shape->second.shape().unknown_rank()) {
      return invalid_argument("the shape is unknown: give it in the import options (input_shapes)");
    }
    CHEXRT_ASSIGN_OR_RETURN(dims, dims_from_proto(shape->second.shape()));
  }
  for (size_t k = 0; k < dims.size(); ++k) {
    if (dims[k] >= 0) continue;
    if (k != 0) {
      return invalid_argument("dimension " + std::to_string(k) +
                              " is unknown; give the shape in the import options (input_shapes)");
    }
    if (im.options().batch_size < 1) return invalid_argument("batch_size must be positive");
    dims[k] = im.options().batch_size;
  }
  return im.add_input(node.name(), dtype, dims);
}

Status import_identity(Importer& im, const NodeDef& node) {
  const std::vector<std::string> keys = im.data_inputs(node);
  if (keys.empty()) return invalid_argument("has no input");
  im.alias(node.name(), keys[0]);
  return Status::ok_status();
}

Status import_noop(Importer&, const NodeDef&) { return Status::ok_status(); }

// Switch(data, pred): output 1 is data when pred holds, output 0 otherwise; the other output is
// dead, and so is everything that reads it up to a Merge. Only a constant predicate (Keras's
// frozen learning phase) is supported.
Status import_switch(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(std::string data, im.input(node, 0));
  CHEXRT_ASSIGN_OR_RETURN(HostTensor pred, im.require_constant(node, 1, "predicate"));
  if (pred.numel() != 1) return invalid_argument("the predicate must be a scalar");
  const bool taken = pred.to_doubles()[0] != 0.0;
  Symbol dead;
  dead.dead = true;
  im.alias(output_key(node.name(), taken ? 1 : 0), data);
  im.define_symbol(output_key(node.name(), taken ? 0 : 1), dead);
  return Status::ok_status();
}

// Merge: the first live input, and its index (output 1).
Status import_merge(Importer& im, const NodeDef& node) {
  const std::vector<std::string> keys = im.data_inputs(node);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (im.symbol(keys[i]).dead) continue;
    im.alias(node.name(), keys[i]);
    im.define_constant(output_key(node.name(), 1), int_tensor(DataType::kInt32, {static_cast<int64_t>(i)}, {}));
    return Status::ok_status();
  }
  Symbol dead;
  dead.dead = true;
  im.define_symbol(node.name(), dead);
  return Status::ok_status();
}

Status import_shape(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(std::string x, im.input(node, 0));
  const Dims dims = im.tf_dims(x);
  auto type = node.attr().find("out_type");
  const DataType dtype =
      type != node.attr().end() && type->second.type() == tensorflow::DT_INT64 ? DataType::kInt64 : DataType::kInt32;
  im.define_constant(node.name(), int_tensor(dtype, dims, {static_cast<int64_t>(dims.size())}));
  return Status::ok_status();
}

// StridedSlice of a build-time value (shape arithmetic). begin/end/strides with begin_mask,
// end_mask and shrink_axis_mask; ellipsis and new axes are refused.
Status import_strided_slice(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(HostTensor x, im.require_constant(node, 0, "input"));
  CHEXRT_ASSIGN_OR_RETURN(HostTensor begin_t, im.require_constant(node, 1, "begin"));
  CHEXRT_ASSIGN_OR_RETURN(HostTensor end_t, im.require_constant(node, 2, "end"));
  CHEXRT_ASSIGN_OR_RETURN(HostTensor strides_t, im.require_constant(node, 3, "strides"));
  if (attr_int(node, "ellipsis_mask", 0) != 0 || attr_int(node, "new_axis_mask", 0) != 0) {
    return unsupported("ellipsis_mask and new_axis_mask are not supported");
  }
  const int64_t begin_mask = attr_int(node, "begin_mask", 0), end_mask = attr_int(node, "end_mask", 0);
  const int64_t shrink = attr_int(node, "shrink_axis_mask", 0);
  const auto begin = begin_t.to_int64s(), end = end_t.to_int64s(), strides = strides_t.to_int64s();
  const size_t rank = x.dims().size();
  if (begin.size() != end.size() || begin.size() != strides.size() || begin.size() > rank) {
    return invalid_argument("begin, end and strides must have one value per sliced axis");
  }
  std::vector<int64_t> start(rank, 0), step(rank, 1), count(rank);
  Dims out_dims;
  for (size_t a = 0; a < rank; ++a) {
    const int64_t n = x.dims()[a];
    count[a] = n;
    if (a >= begin.size()) {
      out_dims.push_back(n);
      continue;
    }
    const int64_t s = strides[a];
    if (s == 0) return invalid_argument("a stride is 0");
    if (shrink & (int64_t{1} << a)) {
      const int64_t i = begin[a] < 0 ? begin[a] + n : begin[a];
      if (i < 0 || i >= n) return invalid_argument("shrink index " + std::to_string(begin[a]) + " is out of range");
      start[a] = i;
      count[a] = 1;
      continue;
    }
    // Python slicing: clamp to [0, n] going forward, [-1, n - 1] going backward.
    const auto clamp = [&](int64_t v, bool is_begin, bool masked) {
      if (masked) return s > 0 ? (is_begin ? int64_t{0} : n) : (is_begin ? n - 1 : int64_t{-1});
      if (v < 0) v += n;
      return s > 0 ? std::clamp<int64_t>(v, 0, n) : std::clamp<int64_t>(v, -1, n - 1);
    };
    const int64_t b = clamp(begin[a], true, begin_mask & (int64_t{1} << a));
    const int64_t e = clamp(end[a], false, end_mask & (int64_t{1} << a));
    const int64_t len = s > 0 ? std::max<int64_t>(0, (e - b + s - 1) / s) : std::max<int64_t>(0, (b - e - s - 1) / -s);
    start[a] = b;
    step[a] = s;
    count[a] = len;
    out_dims.push_back(len);
  }
  HostTensor out(x.dtype(), out_dims);
  std::vector<int64_t> strides_in(rank, 1);
  for (size_t a = rank; a-- > 1;) strides_in[a - 1] = strides_in[a] * x.dims()[a];
  const size_t esize = dtype_size(x.dtype());
  std::vector<int64_t> index(rank, 0);
  for (int64_t flat = 0; flat < out.numel(); ++flat) {
    int64_t offset = 0;
    for (size_t a = 0; a < rank; ++a) offset += (start[a] + index[a] * step[a]) * strides_in[a];
    std::memcpy(static_cast<uint8_t*>(out.raw()) + flat * esize, static_cast<const uint8_t*>(x.raw()) + offset * esize,
                esize);
    for (size_t a = rank; a-- > 0;) {
      if (++index[a] < count[a]) break;
      index[a] = 0;
    }
  }
  im.define_constant(node.name(), out);
  return Status::ok_status();
}

// Pack (tf.stack) of build-time values along `axis`.
Status import_pack(Importer& im, const NodeDef& node) {
  const std::vector<std::string> keys = im.data_inputs(node);
  if (keys.empty()) return invalid_argument("has no inputs");
  std::vector<HostTensor> parts;
  for (size_t i = 0; i < keys.size(); ++i) {
    CHEXRT_ASSIGN_OR_RETURN(HostTensor t, im.require_constant(node, i, "value"));
    if (!parts.empty() && (t.dims() != parts[0].dims() || t.dtype() != parts[0].dtype())) {
      return invalid_argument("the packed values differ in shape or type");
    }
    parts.push_back(t);
  }
  const Dims& d = parts[0].dims();
  const int64_t rank = static_cast<int64_t>(d.size()) + 1;
  int64_t axis = attr_int(node, "axis", 0);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return invalid_argument("axis is out of range");
  Dims out_dims = d;
  out_dims.insert(out_dims.begin() + axis, static_cast<int64_t>(parts.size()));
  HostTensor out(parts[0].dtype(), out_dims);
  // [outer, inner] blocks: for each outer index, one inner block from each part in turn.
  int64_t outer = 1;
  for (int64_t a = 0; a < axis; ++a) outer *= d[a];
  const size_t inner = static_cast<size_t>(parts[0].numel() / std::max<int64_t>(outer, 1)) * dtype_size(out.dtype());
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t o = 0; o < outer; ++o) {
    for (const HostTensor& p : parts) {
      std::memcpy(dst, static_cast<const uint8_t*>(p.raw()) + o * inner, inner);
      dst += inner;
    }
  }
  im.define_constant(node.name(), out);
  return Status::ok_status();
}

Status import_reshape(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(std::string x, im.input(node, 0));
  CHEXRT_ASSIGN_OR_RETURN(HostTensor shape_t, im.require_constant(node, 1, "shape"));
  Dims dims = shape_t.to_int64s();
  const int64_t total = num_elements(im.tf_dims(x));
  int64_t known = 1, unknown = -1;
  for (size_t k = 0; k < dims.size(); ++k) {
    if (dims[k] == -1) {
      if (unknown >= 0) return invalid_argument("shape has more than one -1");
      unknown = static_cast<int64_t>(k);
    } else if (dims[k] < 0) {
      return invalid_argument("shape has a negative size");
    } else {
      known *= dims[k];
    }
  }
  if (unknown >= 0) {
    if (known == 0 || total % known != 0) return invalid_argument("shape does not divide the element count");
    dims[unknown] = total / known;
  }
  return reshape_to(im, node, x, dims);
}

Status import_squeeze(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(std::string x, im.input(node, 0));
  const Dims in = im.tf_dims(x);
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> axes = attr_ints(node, "squeeze_dims");
  if (axes.empty()) axes = attr_ints(node, "axis");
  std::vector<bool> drop(rank, false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) return invalid_argument("axis " + std::to_string(a) + " is out of range");
    const int64_t k = a < 0 ? a + rank : a;
    if (in[k] != 1) return invalid_argument("axis " + std::to_string(a) + " has size " + std::to_string(in[k]));
    drop[k] = true;
  }
  Dims out;
  for (int64_t k = 0; k < rank; ++k) {
    if (!(axes.empty() ? in[k] == 1 : drop[k])) out.push_back(in[k]);
  }
  return reshape_to(im, node, x, out);
}

Status import_expand_dims(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(std::string x, im.input(node, 0));
  CHEXRT_ASSIGN_OR_RETURN(HostTensor dim_t, im.require_constant(node, 1, "dim"));
  Dims dims = im.tf_dims(x);
  const int64_t rank = static_cast<int64_t>(dims.size()) + 1;
  int64_t axis = dim_t.to_int64s().at(0);
  if (axis < -rank || axis >= rank) return invalid_argument("dim is out of range");
  if (axis < 0) axis += rank;
  dims.insert(dims.begin() + axis, 1);
  return reshape_to(im, node, x, dims);
}

// Transpose. On an NHWC tensor held NCHW the two permutations compose; when they cancel (NHWC ->
// NCHW of a tensor already held NCHW) nothing is emitted.
Status import_transpose(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(std::string x, im.input(node, 0));
  CHEXRT_ASSIGN_OR_RETURN(HostTensor perm_t, im.require_constant(node, 1, "perm"));
  std::vector<int64_t> perm = perm_t.to_int64s();
  const Symbol& s = im.symbol(x);
  if (perm.size() != s.dims.size()) return invalid_argument("perm does not fit the input's rank");
  if (s.nchw) {
    static const int64_t kHeldAxis[4] = {0, 2, 3, 1};  // network axis of NHWC axis k
    for (int64_t& p : perm) {
      if (p < 0 || p > 3) return invalid_argument("perm is out of range");
      p = kHeldAxis[p];
    }
  }
  std::vector<int64_t> identity(perm.size());
  for (size_t k = 0; k < perm.size(); ++k) identity[k] = static_cast<int64_t>(k);
  if (perm == identity) {
    im.alias(node.name(), x);
    im.mutable_symbol(node.name()).nchw = false;
    return Status::ok_status();
  }
  ir::Attributes attrs;
  attrs.set("perm", perm);
  return im.emit("Transpose", node.name(), {x}, attrs, {node.name()}, false);
}

}  // namespace chexrt::tf_import
