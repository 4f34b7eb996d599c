// Ops that move bytes without arithmetic, for any element type: Identity, Flatten, Reshape,
// Squeeze, Unsqueeze (row-major data is unchanged, so a copy), Transpose, Concat, Gather, Shape.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "backends/reference/kernel_util.h"

namespace chexrt::reference {

Status run_copy(const KernelCall& call) {
  const HostTensor& x = call.in(0);
  HostTensor& y = call.out(0);
  if (x.dtype() != y.dtype() || x.numel() != y.numel()) {
    return call.error("cannot copy " + std::string(dtype_name(x.dtype())) + dims_to_string(x.dims()) + " into " +
                      dtype_name(y.dtype()) + dims_to_string(y.dims()));
  }
  std::memcpy(y.raw(), x.raw(), x.nbytes());
  return Status::ok_status();
}

namespace {

template <class Word>
void permute(const HostTensor& x, HostTensor& y, const std::vector<int64_t>& in_strides) {
  const Word* in = static_cast<const Word*>(x.raw());
  Word* out = static_cast<Word*>(y.raw());
  for_each_offset<1>(y.dims(), {in_strides},
                     [&](int64_t i, const std::array<int64_t, 1>& off) { out[i] = in[off[0]]; });
}

}  // namespace

// y[i_0, ..., i_r] = x[j] with j[perm[k]] = i_k: output axis k walks input axis perm[k].
Status run_transpose(const KernelCall& call) {
  const HostTensor& x = call.in(0);
  HostTensor& y = call.out(0);
  std::vector<int64_t> perm(x.dims().size());
  std::iota(perm.rbegin(), perm.rend(), 0);
  perm = call.attrs().get_ints("perm", perm);
  if (perm.size() != x.dims().size() || y.dims().size() != perm.size() || x.dtype() != y.dtype()) {
    return call.error("perm " + dims_to_string(perm) + " does not fit " + dims_to_string(x.dims()));
  }
  const std::vector<int64_t> x_strides = row_major_strides(x.dims());
  std::vector<int64_t> in_strides(perm.size());
  for (size_t k = 0; k < perm.size(); ++k) {
    if (perm[k] < 0 || perm[k] >= x.rank() || y.dims()[k] != x.dims()[perm[k]]) {
      return call.error("perm " + dims_to_string(perm) + " does not map " + dims_to_string(x.dims()) + " to " +
                        dims_to_string(y.dims()));
    }
    in_strides[k] = x_strides[perm[k]];
  }
  switch (dtype_size(x.dtype())) {
    case 1:
      permute<uint8_t>(x, y, in_strides);
      break;
    case 2:
      permute<uint16_t>(x, y, in_strides);
      break;
    case 4:
      permute<uint32_t>(x, y, in_strides);
      break;
    case 8:
      permute<uint64_t>(x, y, in_strides);
      break;
    default:
      return call.unsupported_dtype(x.dtype());
  }
  return Status::ok_status();
}

// Seen as [outer, axis..., inner] byte blocks: for each outer index, the inputs' blocks follow
// one another.
Status run_concat(const KernelCall& call) {
  HostTensor& y = call.out(0);
  const Dims& yd = y.dims();
  int64_t axis = call.attrs().get_int("axis", 1);
  if (axis < 0) axis += y.rank();
  if (axis < 0 || axis >= y.rank()) return call.error("axis is out of range for " + dims_to_string(yd));
  const int64_t outer = num_elements(Dims(yd.begin(), yd.begin() + axis));
  const size_t esize = dtype_size(y.dtype());
  const size_t out_block = static_cast<size_t>(num_elements(Dims(yd.begin() + axis, yd.end()))) * esize;
  size_t axis_total = 0;
  for (const HostTensor* in : call.inputs) {
    bool fits = in->dtype() == y.dtype() && in->rank() == y.rank();
    for (int64_t k = 0; fits && k < y.rank(); ++k) fits = k == axis || in->dims()[k] == yd[k];
    if (!fits) return call.error("input " + dims_to_string(in->dims()) + " does not fit output " + dims_to_string(yd));
    axis_total += static_cast<size_t>(in->dims()[axis]);
  }
  if (static_cast<int64_t>(axis_total) != yd[axis]) return call.error("inputs do not add up to the output's axis");
  auto* out = static_cast<uint8_t*>(y.raw());
  size_t at = 0;  // byte offset of this input's block within an output block
  for (const HostTensor* in : call.inputs) {
    const size_t block = in->nbytes() / static_cast<size_t>(std::max<int64_t>(outer, 1));
    const auto* src = static_cast<const uint8_t*>(in->raw());
    for (int64_t o = 0; o < outer; ++o) std::memcpy(out + o * out_block + at, src + o * block, block);
    at += block;
  }
  return Status::ok_status();
}

// y[outer, j..., inner] = x[outer, indices[j...], inner]; negative indices count from the end.
Status run_gather(const KernelCall& call) {
  const HostTensor& x = call.in(0);
  const HostTensor& indices = call.in(1);
  HostTensor& y = call.out(0);
  const Dims& xd = x.dims();
  int64_t axis = call.attrs().get_int("axis", 0);
  if (axis < 0) axis += x.rank();
  if (axis < 0 || axis >= x.rank()) return call.error("axis is out of range for " + dims_to_string(xd));
  const int64_t outer = num_elements(Dims(xd.begin(), xd.begin() + axis));
  const int64_t axis_size = xd[axis];
  const size_t block = static_cast<size_t>(num_elements(Dims(xd.begin() + axis + 1, xd.end()))) * dtype_size(x.dtype());
  const std::vector<int64_t> idx = indices.to_int64s();
  const int64_t count = static_cast<int64_t>(idx.size());
  if (y.dtype() != x.dtype() || y.numel() != outer * count * num_elements(Dims(xd.begin() + axis + 1, xd.end()))) {
    return call.error("output " + dims_to_string(y.dims()) + " does not fit the gather");
  }
  const auto* src = static_cast<const uint8_t*>(x.raw());
  auto* dst = static_cast<uint8_t*>(y.raw());
  for (int64_t j = 0; j < count; ++j) {
    const int64_t i = idx[j] < 0 ? idx[j] + axis_size : idx[j];
    if (i < 0 || i >= axis_size) {
      return call.error("index " + std::to_string(idx[j]) + " is out of range for axis " + std::to_string(axis) +
                        " of size " + std::to_string(axis_size));
    }
    for (int64_t o = 0; o < outer; ++o) {
      std::memcpy(dst + (o * count + j) * block, src + (o * axis_size + i) * block, block);
    }
  }
  return Status::ok_status();
}

// y = dims(x)[start:end] as int64, start and end clamped to [0, rank] after adding rank to
// negative values.
Status run_shape(const KernelCall& call) {
  const HostTensor& x = call.in(0);
  HostTensor& y = call.out(0);
  const int64_t rank = x.rank();
  int64_t start = call.attrs().get_int("start", 0), end = call.attrs().get_int("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  if (y.dtype() != DataType::kInt64 || y.numel() != std::max<int64_t>(0, end - start)) {
    return call.error("output " + dims_to_string(y.dims()) + " does not fit shape[" + std::to_string(start) + ":" +
                      std::to_string(end) + "]");
  }
  for (int64_t i = start; i < end; ++i) y.data<int64_t>()[i - start] = x.dims()[i];
  return Status::ok_status();
}

}  // namespace chexrt::reference
