// 1x1 convolutions as cuBLASLt matmuls, the bias and ReLU in the matmul's epilogue.
//
// Candidates: one, the algorithm cuBLASLt's heuristics give first, for 1x1 convolutions whose
// views are 16-byte aligned. One that fails to set up is left out, not fatal.
#include "backends/cuda/steps/conv_common.h"
#include "backends/cuda/steps/families.h"

namespace chexrt::cuda {
namespace {

// A 1x1 convolution is the GEMM Y[P, O] = X[P, C] W[O, C]^T; cuBLASLt's column-major view of it
// is Y^T (O x P, ld y_ld) = op(W as C x O)^T (O x C) * X^T (C x P, ld x_ld), with the bias and
// ReLU in its epilogue. FP32 uses CUBLAS_COMPUTE_32F (no TF32), FP16 accumulates in fp32.
class CublasLtConvStep : public LibraryConvBase {
 public:
  static constexpr size_t kMaxWorkspace = size_t(32) << 20;

  CublasLtConvStep(const ExecutionPlan& plan, ConvProblem p)
      : LibraryConvBase(plan, std::move(p)), per_batch_(plan.max_batch + 1) {}
  ~CublasLtConvStep() override {
    for (auto& b : per_batch_) {
      if (!b) continue;
      cublasLtMatrixLayoutDestroy(b->x);
      cublasLtMatrixLayoutDestroy(b->y);
    }
    if (w_layout_) cublasLtMatrixLayoutDestroy(w_layout_);
    if (matmul_) cublasLtMatmulDescDestroy(matmul_);
  }
  static bool applicable(const ExecutionPlan& plan, const ConvProblem& p) {
    const ValueLayout& lx = plan.values[p.x];
    const ValueLayout& ly = plan.values[p.y];
    // 16-byte aligned columns keep cuBLASLt on its fast kernels.
    const int64_t v = 16 / plan.elem_size;
    return p.pointwise() && p.dh == 1 && p.dw == 1 && lx.ld % v == 0 && lx.channel_offset % v == 0 && ly.ld % v == 0 &&
           ly.channel_offset % v == 0 && p.in_c % v == 0;
  }
  Status init(cublasLtHandle_t handle) {
    handle_ = handle;
    CHEXRT_RETURN_IF_ERROR(upload_common());
    const std::vector<float> w = p_.packed_weight(p_.in_c, p_.in_c);
    if (is_fp16(plan_)) {
      const std::vector<uint16_t> h = to_half(w);
      CHEXRT_RETURN_IF_ERROR(weight_.upload(h.data(), h.size() * 2, p_.node_name + " weights"));
      if (!p_.bias.empty()) {
        const std::vector<uint16_t> hb = to_half(p_.bias);
        CHEXRT_RETURN_IF_ERROR(bias_d_.upload(hb.data(), hb.size() * 2, p_.node_name + " bias"));
      }
    } else {
      CHEXRT_RETURN_IF_ERROR(weight_.upload(w.data(), w.size() * 4, p_.node_name + " weights"));
      if (!p_.bias.empty()) {
        CHEXRT_RETURN_IF_ERROR(bias_d_.upload(p_.bias.data(), p_.bias.size() * 4, p_.node_name + " bias"));
      }
    }
    const cudaDataType_t t = is_fp16(plan_) ? CUDA_R_16F : CUDA_R_32F;
    CHEXRT_CUBLAS_TRY(cublasLtMatmulDescCreate(&matmul_, CUBLAS_COMPUTE_32F, CUDA_R_32F), p_.node_name);
    const cublasOperation_t trans = CUBLAS_OP_T, no_trans = CUBLAS_OP_N;
    CHEXRT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(matmul_, CUBLASLT_MATMUL_DESC_TRANSA, &trans, sizeof(trans)),
                      p_.node_name);
    CHEXRT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(matmul_, CUBLASLT_MATMUL_DESC_TRANSB, &no_trans, sizeof(no_trans)),
                      p_.node_name);
    cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
    if (!p_.bias.empty())
      epilogue = p_.relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
    else if (p_.relu)
      epilogue = CUBLASLT_EPILOGUE_RELU;
    CHEXRT_CUBLAS_TRY(
        cublasLtMatmulDescSetAttribute(matmul_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
        p_.node_name);
    if (!p_.bias.empty()) {
      CHEXRT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(matmul_, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &t, sizeof(t)),
                        p_.node_name);
      const void* bias = bias_d_.get();
      CHEXRT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(matmul_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)),
                        p_.node_name);
    }
    CHEXRT_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&w_layout_, t, p_.in_c, p_.out_c, p_.in_c), p_.node_name);
    return prepare(p_.batch);
  }
  std::string name() const override {
    return p_.op_name() + "_" + prec(plan_) + "_nhwc" + p_.fusion_suffix() + "__cublaslt";
  }
  std::string signature() const override { return conv_signature(p_, plan_); }
  size_t scratch_bytes() const override { return packed_input_bytes(); }
  size_t workspace_bytes() const override { return kMaxWorkspace; }

  Status prepare(int64_t batch) override {
    if (per_batch_[batch]) return Status::ok_status();
    auto b = std::make_unique<Batch>();
    const cudaDataType_t t = is_fp16(plan_) ? CUDA_R_16F : CUDA_R_32F;
    const uint64_t pixels = static_cast<uint64_t>(out_pixels(batch));
    const int64_t x_ld = pack_input_ ? p_.in_c : plan_.values[p_.x].ld;
    CHEXRT_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&b->x, t, p_.in_c, pixels, x_ld), p_.node_name);
    CHEXRT_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&b->y, t, p_.out_c, pixels, plan_.values[p_.y].ld), p_.node_name);
    cublasLtMatmulPreference_t pref = nullptr;
    CHEXRT_CUBLAS_TRY(cublasLtMatmulPreferenceCreate(&pref), p_.node_name);
    const size_t ws = kMaxWorkspace;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t s =
        cublasLtMatmulAlgoGetHeuristic(handle_, matmul_, w_layout_, b->x, b->y, b->y, pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (s != CUBLAS_STATUS_SUCCESS || found == 0) {
      cublasLtMatrixLayoutDestroy(b->x);
      cublasLtMatrixLayoutDestroy(b->y);
      return unsupported(p_.node_name + ": cuBLASLt has no algorithm for batch " + std::to_string(batch));
    }
    b->algo = result.algo;
    per_batch_[batch] = std::move(b);
    return Status::ok_status();
  }

  Status enqueue(const RunContext& ctx) const override {
    const Batch& b = *per_batch_[ctx.batch];
    CHEXRT_ASSIGN_OR_RETURN(const void* x, library_input(ctx));
    const float alpha = 1.f, beta = 0.f;
    void* y = ctx.ptr(p_.y);
    CHEXRT_CUBLAS_TRY(cublasLtMatmul(ctx.cublaslt, matmul_, &alpha, weight_.get(), w_layout_, x, b.x, &beta, y, b.y, y,
                                     b.y, &b.algo, ctx.workspace, ctx.workspace_bytes, ctx.stream),
                      p_.node_name + ": cublasLtMatmul");
    return Status::ok_status();
  }

 private:
  struct Batch {
    cublasLtMatrixLayout_t x = nullptr, y = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulDesc_t matmul_ = nullptr;
  cublasLtMatrixLayout_t w_layout_ = nullptr;
  DeviceBuffer weight_, bias_d_;
  std::vector<std::unique_ptr<Batch>> per_batch_;
};

}  // namespace

Status conv_cublaslt_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p, conv_problem(env.graph, env.plan, env.plan.steps[index], env.batch));
  if (!CublasLtConvStep::applicable(env.plan, p) || !out->may_want("__cublaslt")) return Status::ok_status();
  auto step = std::make_unique<CublasLtConvStep>(env.plan, p);
  const Status s = step->init(env.cublaslt);
  out->add_or_skip(std::move(step), s);
  return Status::ok_status();
}

}  // namespace chexrt::cuda
