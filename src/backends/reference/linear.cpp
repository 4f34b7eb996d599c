// ONNX Gemm and MatMul, and the fused ClassifierHead of src/ir/ops.h. Dot products are
// accumulated in double, one output row at a time: acc[n] += a(m, k) * b(k, n) over k.
#include <cmath>
#include <vector>

#include "backends/reference/kernel_util.h"
#include "ir/shape_inference.h"

namespace chexrt::reference {

namespace {

// out[m, n] (row-major, ld = n_size) = sum_k a(m, k) * b(k, n), with a(m, k) = a[m * a_m + k * a_k]
// and b(k, n) = b[k * b_k + n * b_n]: the strides express transposition.
void matrix_product(const float* a, int64_t a_m, int64_t a_k, const float* b, int64_t b_k, int64_t b_n, int64_t m_size,
                    int64_t k_size, int64_t n_size, std::vector<double>& out) {
  out.assign(static_cast<size_t>(m_size * n_size), 0.0);
  for (int64_t m = 0; m < m_size; ++m) {
    double* row = out.data() + m * n_size;
    for (int64_t k = 0; k < k_size; ++k) {
      const double av = a[m * a_m + k * a_k];
      const float* bk = b + k * b_k;
      for (int64_t n = 0; n < n_size; ++n) row[n] += av * bk[n * b_n];
    }
  }
}

}  // namespace

// Y = alpha * A' * B' + beta * C, A' = transA ? A^T : A, B' likewise, C broadcast to [M, N].
Status run_gemm(const KernelCall& call) {
  const HostTensor& a = call.in(0);
  const HostTensor& b = call.in(1);
  const HostTensor* c = call.optional_in(2);
  HostTensor& y = call.out(0);
  if (a.rank() != 2 || b.rank() != 2 || y.rank() != 2) return call.error("A, B and Y must be matrices");
  const bool trans_a = call.attrs().get_int("transA", 0) != 0;
  const bool trans_b = call.attrs().get_int("transB", 0) != 0;
  const double alpha = call.attrs().get_float("alpha", 1.0f);
  const double beta = call.attrs().get_float("beta", 1.0f);
  const int64_t m_size = trans_a ? a.dims()[1] : a.dims()[0], k_size = trans_a ? a.dims()[0] : a.dims()[1];
  const int64_t n_size = trans_b ? b.dims()[0] : b.dims()[1];
  if ((trans_b ? b.dims()[1] : b.dims()[0]) != k_size || y.dims() != (Dims{m_size, n_size})) {
    return call.error("A " + dims_to_string(a.dims()) + ", B " + dims_to_string(b.dims()) + " and Y " +
                      dims_to_string(y.dims()) + " do not fit");
  }
  // A is stored [M, K] (or [K, M] when transposed), B [K, N] (or [N, K]).
  std::vector<double> product;
  matrix_product(a.data<float>(), trans_a ? 1 : k_size, trans_a ? m_size : 1, b.data<float>(), trans_b ? 1 : n_size,
                 trans_b ? k_size : 1, m_size, k_size, n_size, product);
  std::vector<int64_t> c_strides = {0, 0};
  if (c != nullptr) {
    if (c->rank() > 2 || !ir::broadcast_dims(c->dims(), y.dims()).ok()) {
      return call.error("C " + dims_to_string(c->dims()) + " does not broadcast to " + dims_to_string(y.dims()));
    }
    c_strides = broadcast_strides(c->dims(), y.dims());
  }
  float* yd = y.data<float>();
  for (int64_t m = 0; m < m_size; ++m) {
    for (int64_t n = 0; n < n_size; ++n) {
      double v = alpha * product[m * n_size + n];
      if (c != nullptr) v += beta * c->data<float>()[m * c_strides[0] + n * c_strides[1]];
      yd[m * n_size + n] = static_cast<float>(v);
    }
  }
  return Status::ok_status();
}

// numpy matmul: a 1-D A is a row [1, K] and a 1-D B a column [K, 1] (their unit axis is dropped
// from the result); leading (batch) axes broadcast.
Status run_matmul(const KernelCall& call) {
  const HostTensor& a = call.in(0);
  const HostTensor& b = call.in(1);
  HostTensor& y = call.out(0);
  if (a.rank() < 1 || b.rank() < 1) return call.error("inputs must have rank >= 1");
  Dims ad = a.dims(), bd = b.dims();
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  if (bd.size() == 1) bd.push_back(1);
  const int64_t m_size = ad[ad.size() - 2], k_size = ad.back(), n_size = bd.back();
  if (bd[bd.size() - 2] != k_size) {
    return call.error("inner sizes differ: " + dims_to_string(a.dims()) + " x " + dims_to_string(b.dims()));
  }
  const Dims a_batch(ad.begin(), ad.end() - 2), b_batch(bd.begin(), bd.end() - 2);
  auto batch = ir::broadcast_dims(a_batch, b_batch);
  if (!batch.ok()) return call.error(batch.status().message());
  if (y.numel() != num_elements(*batch) * m_size * n_size) {
    return call.error("output " + dims_to_string(y.dims()) + " does not fit the product");
  }
  std::vector<int64_t> a_strides = broadcast_strides(a_batch, *batch);
  std::vector<int64_t> b_strides = broadcast_strides(b_batch, *batch);
  for (int64_t& s : a_strides) s *= m_size * k_size;
  for (int64_t& s : b_strides) s *= k_size * n_size;
  const float* ad_ptr = a.data<float>();
  const float* bd_ptr = b.data<float>();
  float* yd = y.data<float>();
  std::vector<double> product;
  for_each_offset<2>(*batch, {a_strides, b_strides}, [&](int64_t i, const std::array<int64_t, 2>& off) {
    matrix_product(ad_ptr + off[0], k_size, 1, bd_ptr + off[1], n_size, 1, m_size, k_size, n_size, product);
    float* out = yd + i * m_size * n_size;
    for (int64_t j = 0; j < m_size * n_size; ++j) out[j] = static_cast<float>(product[j]);
  });
  return Status::ok_status();
}

// y[n, k] = act(sum_c W[k, c] * mean_hw(x[n, c]) + b[k]), act = identity or sigmoid.
Status run_classifier_head(const KernelCall& call) {
  const HostTensor& x = call.in(0);
  const HostTensor& w = call.in(1);
  const HostTensor& b = call.in(2);
  if (x.rank() != 4 || w.rank() != 2 || w.dims()[1] != x.dims()[1] || b.dims() != Dims{w.dims()[0]}) {
    return call.error("weights " + dims_to_string(w.dims()) + " and bias " + dims_to_string(b.dims()) +
                      " do not fit input " + dims_to_string(x.dims()));
  }
  const bool sigmoid = call.attrs().get_string("activation", "") == "sigmoid";
  const int64_t batch = x.dims()[0], channels = x.dims()[1], plane = x.dims()[2] * x.dims()[3];
  const int64_t classes = w.dims()[0];
  const float* xd = x.data<float>();
  const float* wd = w.data<float>();
  float* yd = call.out(0).data<float>();
  std::vector<double> pooled(static_cast<size_t>(channels));
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      double sum = 0.0;
      for (int64_t i = 0; i < plane; ++i) sum += xd[(n * channels + c) * plane + i];
      pooled[c] = sum / static_cast<double>(plane);
    }
    for (int64_t k = 0; k < classes; ++k) {
      double v = b.data<float>()[k];
      for (int64_t c = 0; c < channels; ++c) v += wd[k * channels + c] * pooled[c];
      yd[n * classes + k] = static_cast<float>(sigmoid ? 1.0 / (1.0 + std::exp(-v)) : v);
    }
  }
  return Status::ok_status();
}

}  // namespace chexrt::reference
