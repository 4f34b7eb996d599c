// What the convolution families share: the problem resolved from the graph and the plan
// (ConvProblem), its timing-cache signature, the constants' uploads, and the base classes of
// the fp16 tensor-core kernels, the fp32 implicit GEMMs and the library paths.
#pragma once

#include <string>
#include <vector>

#include "backends/cuda/kernels/conv_gemm.cuh"
#include "backends/cuda/kernels/conv_gemm_3xtf32.cuh"
#include "backends/cuda/kernels/conv_gemm_f32.cuh"
#include "backends/cuda/steps.h"
#include "backends/cuda/steps/step_util.h"

namespace chexrt::cuda {

// What every convolution implementation needs to know, resolved from the graph and the plan.
struct ConvProblem {
  const ir::Node* node = nullptr;
  /// The batch of the optimization profile: the largest this step runs, and the one it is
  /// timed at (see CudaEngine).
  int64_t batch = 1;
  int x = -1, y = -1;  // x: the tensor read (the prologue's input when there is one)
  int in_h = 0, in_w = 0, in_c = 0, c_logical = 0;
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, ph_end = 0, pw_end = 0, dh = 1, dw = 1;
  int out_h = 0, out_w = 0, out_c = 0;
  bool relu = false;
  std::vector<float> weight;  // [out_c][c_logical][kh][kw] as in the graph
  std::vector<float> bias;    // empty when none
  bool has_prologue = false;
  AffineParams prologue;
  std::string node_name;
  std::string op;  // what the graph asked for, e.g. "conv7x7s2" (also after a space-to-depth rewrite)

  bool pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && ph_end == 0 && pw_end == 0;
  }
  std::string op_name() const { return op; }
  std::string fusion_suffix() const {
    std::string s;
    if (has_prologue) s += prologue.relu ? "_affinerelu" : "_affine";
    if (!bias.empty()) s += "_bias";
    if (relu) s += "_relu";
    return s;
  }
  // Weights as [out_c][k_pad] in (r, s, c) order over `channels` stored input channels.
  std::vector<float> packed_weight(int channels, int k_pad) const {
    std::vector<float> w(static_cast<size_t>(out_c) * k_pad, 0.f);
    for (int o = 0; o < out_c; ++o)
      for (int c = 0; c < c_logical; ++c)
        for (int r = 0; r < kh; ++r)
          for (int s = 0; s < kw; ++s) {
            w[static_cast<size_t>(o) * k_pad + (r * kw + s) * channels + c] =
                weight[((static_cast<size_t>(o) * c_logical + c) * kh + r) * kw + s];
          }
    return w;
  }
};

// The sliding-window geometry that every implicit-GEMM kernel's argument struct carries under
// the same field names (ConvGemmArgs, ConvGemmF32Args).
template <class Args>
void set_conv_geometry(const ConvProblem& p, int64_t batch, Args* a) {
  a->batch = static_cast<int>(batch);
  a->in_h = p.in_h;
  a->in_w = p.in_w;
  a->in_c = p.in_c;
  a->kernel_h = p.kh;
  a->kernel_w = p.kw;
  a->stride_h = p.sh;
  a->stride_w = p.sw;
  a->pad_h = p.ph;
  a->pad_w = p.pw;
  a->dil_h = p.dh;
  a->dil_w = p.dw;
  a->out_h = p.out_h;
  a->out_w = p.out_w;
  a->out_c = p.out_c;
}

/// The problem of conv step `desc` at the profile's batch: geometry from the plan's layouts,
/// weights and bias from the graph, the prologue's scale and shift; a stride-2 convolution over
/// a space-to-depth input as the stride-1 one it equals.
Result<ConvProblem> conv_problem(const ir::Graph& g, const ExecutionPlan& plan, const StepDesc& desc, int64_t batch);

/// The timing-cache signature of a convolution: batch, input view, kernel, output view.
std::string conv_signature(const ConvProblem& p, const ExecutionPlan& plan);

// The fp16 tensor-core kernels' constants: weights packed [out_c][k_pad] over `channels` stored
// input channels, the fp32 bias (when there is one), and the prologue's scale and shift as fp16
// zero-padded to k_pad (when there is one).
Status upload_f16_weights(const ConvProblem& p, int channels, int k_pad, DeviceBuffer* weight);
Status upload_bias(const ConvProblem& p, DeviceBuffer* bias);
Status upload_f16_prologue(const ConvProblem& p, int k_pad, DeviceBuffer* scale, DeviceBuffer* shift);

// chexrt's fp16 tensor-core implicit GEMMs (kernels/conv_gemm.cuh's ConvGemmArgs): the mma.sync
// kernels (conv_mma.cpp), the wgmma ones (conv_wgmma.cpp) and those with resident weights
// (conv1x1_resident.cpp, conv3x3_resident.cpp) take the same constants and arguments. Each
// family is a subclass that names its tactics and launches its kernel.
class F16ConvStep : public Step {
 public:
  F16ConvStep(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant, ConvGemmTile tile, int splits,
              bool cluster_reduce)
      : plan_(plan), p_(p), variant_(variant), tile_(tile), splits_(splits), cluster_reduce_(cluster_reduce) {
    const int k = p_.pointwise() ? p_.in_c : p_.kh * p_.kw * p_.in_c;
    k_pad_ = (k + 31) / 32 * 32;
  }
  /// Whether `variant` takes the problem with this tile (precision, alignment, shape); a
  /// family's fits() may take fewer.
  static bool applicable(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant,
                         const ConvGemmTile& tile) {
    const ValueLayout& lx = plan.values[p.x];
    const ValueLayout& ly = plan.values[p.y];
    if (!is_fp16(plan) || p.in_c % 8 != 0 || lx.ld % 8 != 0 || lx.channel_offset % 8 != 0 || ly.ld % 8 != 0 ||
        ly.channel_offset % 8 != 0 || p.out_c % tile.bn != 0) {
      return false;
    }
    switch (variant) {
      case ConvGemmVariant::kPointwise:
        return p.pointwise() && !p.has_prologue;
      case ConvGemmVariant::kPointwisePrologue:
        return p.pointwise() && p.has_prologue && p.prologue.relu;  // the kernel always applies ReLU
      case ConvGemmVariant::kGeneral:
        return !p.pointwise() && !p.has_prologue;
      case ConvGemmVariant::kHalo3x3:
        return !p.has_prologue && p.kh == 3 && p.kw == 3 && p.sh == 1 && p.sw == 1 && p.ph == 1 && p.pw == 1 &&
               p.ph_end == 1 && p.pw_end == 1 && p.dh == 1 && p.dw == 1 && p.in_c % 32 == 0 && p.in_w <= tile.bm &&
               p.out_h == p.in_h && p.out_w == p.in_w;
    }
    return false;
  }
  Status init() {
    CHEXRT_RETURN_IF_ERROR(upload_f16_weights(p_, p_.in_c, k_pad_, &weight_));
    CHEXRT_RETURN_IF_ERROR(upload_bias(p_, &bias_));
    return upload_f16_prologue(p_, k_pad_, &scale_, &shift_);
  }
  size_t scratch_bytes() const override { return align_up(conv_gemm_partial_bytes(args(p_.batch))); }
  std::string signature() const override { return conv_signature(p_, plan_); }
  Status enqueue(const RunContext& ctx) const override {
    ConvGemmArgs a = args(ctx.batch);
    a.x = static_cast<const __half*>(ctx.ptr(p_.x));
    a.y = static_cast<__half*>(ctx.ptr(p_.y));
    a.partial = static_cast<float*>(ctx.scratch);
    return check_cuda(launch(a, ctx.stream), p_.node_name);
  }

 protected:
  /// Enqueues the family's kernel for this tile.
  virtual cudaError_t launch(const ConvGemmArgs& a, cudaStream_t stream) const = 0;
  /// The tactic name, `kernel` (e.g. "__mma_halo_") naming the kernel family, e.g.
  /// "conv1x1_f16_nhwc_affinerelu_bias_relu__mma_128x128_8w".
  std::string tactic_name(const char* kernel) const {
    return p_.op_name() + "_f16_nhwc" + p_.fusion_suffix() + kernel + tile_.name() + "_" +
           std::to_string(tile_.warps_m * tile_.warps_n) + "w" +
           (splits_ > 1 ? (cluster_reduce_ ? "_clusterk" : "_splitk") + std::to_string(splits_) : "");
  }
  ConvGemmArgs args(int64_t batch) const {
    const ValueLayout& lx = plan_.values[p_.x];
    const ValueLayout& ly = plan_.values[p_.y];
    ConvGemmArgs a;
    a.x_ld = lx.ld;
    set_conv_geometry(p_, batch, &a);
    a.weight = weight_.as<__half>();
    a.k_pad = k_pad_;
    a.pro_scale = scale_.as<__half>();
    a.pro_shift = shift_.as<__half>();
    a.bias = bias_.as<float>();
    a.relu = p_.relu;
    a.y_ld = ly.ld;
    a.splits = splits_;
    a.cluster_reduce = cluster_reduce_;
    return a;
  }

  const ExecutionPlan& plan_;
  ConvProblem p_;
  ConvGemmVariant variant_;
  ConvGemmTile tile_;
  int splits_ = 1;
  bool cluster_reduce_ = false;
  int k_pad_ = 0;
  DeviceBuffer weight_, bias_, scale_, shift_;
};

// Shared by the library paths (conv_cudnn.cpp, conv_cublaslt.cpp): a prologue (or a strided
// input) becomes a packed copy in scratch; an epilogue (bias, ReLU) or a strided output becomes a
// channel map from scratch.
class LibraryConvBase : public Step {
 protected:
  LibraryConvBase(const ExecutionPlan& plan, ConvProblem p) : plan_(plan), p_(std::move(p)) {}
  Status upload_common() {
    if (p_.has_prologue) CHEXRT_RETURN_IF_ERROR(prologue_.upload(p_.prologue, p_.node_name));
    if (!p_.bias.empty()) {
      CHEXRT_RETURN_IF_ERROR(bias_.upload(p_.bias.data(), p_.bias.size() * sizeof(float), p_.node_name + " bias"));
    }
    const ValueLayout& lx = plan_.values[p_.x];
    pack_input_ = p_.has_prologue || lx.ld != lx.c_stored;
    return Status::ok_status();
  }
  int64_t in_pixels(int64_t batch) const { return batch * p_.in_h * p_.in_w; }
  int64_t out_pixels(int64_t batch) const { return batch * p_.out_h * p_.out_w; }
  size_t packed_input_bytes() const {
    return pack_input_ ? align_up(in_pixels(p_.batch) * p_.in_c * plan_.elem_size) : 0;
  }
  // The input as the library reads it: the view itself, or a packed (and normalized) copy.
  Result<const void*> library_input(const RunContext& ctx) const {
    const ValueLayout& lx = plan_.values[p_.x];
    if (!pack_input_) return static_cast<const void*>(ctx.ptr(p_.x));
    CHEXRT_CUDA_TRY(launch_channel_map(ctx.ptr(p_.x), lx.ld, ctx.scratch, p_.in_c, in_pixels(ctx.batch), p_.in_c,
                                       prologue_.scale.as<float>(), prologue_.shift.as<float>(),
                                       prologue_.relu ? Act::kRelu : Act::kNone, is_fp16(plan_), ctx.stream),
                    p_.node_name + " prologue");
    return static_cast<const void*>(ctx.scratch);
  }

  const ExecutionPlan& plan_;
  ConvProblem p_;
  DeviceAffine prologue_;
  DeviceBuffer bias_;
  bool pack_input_ = false;
};

// chexrt's FP32 implicit GEMMs, with the prologue fused, both accurate to fp32 (no TF32): FFMA
// (kernels/conv_gemm_f32.cu) and 3xTF32 on the tensor cores (kernels/conv_gemm_3xtf32.cu).
class F32ConvStepBase : public Step {
 public:
  std::string signature() const override { return conv_signature(p_, plan_); }

 protected:
  F32ConvStepBase(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant)
      : plan_(plan), p_(p), variant_(variant) {}
  static bool applicable_common(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant, int bn) {
    const ValueLayout& lx = plan.values[p.x];
    const ValueLayout& ly = plan.values[p.y];
    if (is_fp16(plan) || p.in_c % 4 != 0 || lx.ld % 4 != 0 || lx.channel_offset % 4 != 0 || ly.ld % 4 != 0 ||
        ly.channel_offset % 4 != 0 || p.out_c % bn != 0) {
      return false;
    }
    switch (variant) {
      case ConvGemmVariant::kPointwise:
        return p.pointwise() && !p.has_prologue;
      case ConvGemmVariant::kPointwisePrologue:
        return p.pointwise() && p.has_prologue;
      case ConvGemmVariant::kGeneral:
        return !p.pointwise() && !p.has_prologue;
      case ConvGemmVariant::kHalo3x3:
        return false;
    }
    return false;
  }
  /// Uploads the weights ([out_c][k_pad], k_pad a multiple of 16), as they are or split into
  /// tf32 hi and lo parts, the bias and the prologue's scale and shift.
  Status init_weights(bool split) {
    const int k = p_.pointwise() ? p_.in_c : p_.kh * p_.kw * p_.in_c;
    k_pad_ = (k + 15) / 16 * 16;
    const std::vector<float> w = p_.packed_weight(p_.in_c, k_pad_);
    if (split) {
      std::vector<float> hi, lo;
      split_tf32(w, &hi, &lo);
      CHEXRT_RETURN_IF_ERROR(weight_.upload(hi.data(), hi.size() * 4, p_.node_name + " weights"));
      CHEXRT_RETURN_IF_ERROR(weight_lo_.upload(lo.data(), lo.size() * 4, p_.node_name + " weights"));
    } else {
      CHEXRT_RETURN_IF_ERROR(weight_.upload(w.data(), w.size() * 4, p_.node_name + " weights"));
    }
    if (!p_.bias.empty()) {
      CHEXRT_RETURN_IF_ERROR(bias_.upload(p_.bias.data(), p_.bias.size() * 4, p_.node_name + " bias"));
    }
    if (p_.has_prologue) {
      std::vector<float> scale(k_pad_, 0.f), shift(k_pad_, 0.f);
      std::copy(p_.prologue.scale.begin(), p_.prologue.scale.end(), scale.begin());
      std::copy(p_.prologue.shift.begin(), p_.prologue.shift.end(), shift.begin());
      CHEXRT_RETURN_IF_ERROR(scale_.upload(scale.data(), scale.size() * 4, p_.node_name + " prologue"));
      CHEXRT_RETURN_IF_ERROR(shift_.upload(shift.data(), shift.size() * 4, p_.node_name + " prologue"));
    }
    return Status::ok_status();
  }
  ConvGemmF32Args args(const RunContext& ctx) const {
    const ValueLayout& lx = plan_.values[p_.x];
    const ValueLayout& ly = plan_.values[p_.y];
    ConvGemmF32Args a;
    a.x = static_cast<const float*>(ctx.ptr(p_.x));
    a.x_ld = lx.ld;
    set_conv_geometry(p_, ctx.batch, &a);
    a.weight = weight_.as<float>();
    a.weight_lo = weight_lo_.as<float>();
    a.k_pad = k_pad_;
    a.pro_scale = scale_.as<float>();
    a.pro_shift = shift_.as<float>();
    a.pro_relu = p_.has_prologue && p_.prologue.relu;
    a.bias = bias_.as<float>();
    a.relu = p_.relu;
    a.y = static_cast<float*>(ctx.ptr(p_.y));
    a.y_ld = ly.ld;
    return a;
  }

  const ExecutionPlan& plan_;
  ConvProblem p_;
  ConvGemmVariant variant_;
  int k_pad_ = 0;
  DeviceBuffer weight_, weight_lo_, bias_, scale_, shift_;
};

}  // namespace chexrt::cuda
