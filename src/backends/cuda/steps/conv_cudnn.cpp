// cuDNN's convolutions (the legacy API, present in 9.x), NHWC.
//
// Candidates: the algorithms cuDNN's heuristics offer for the convolution at the profile's batch
// within a 1 GiB workspace (an fp32 engine keeps to the exact ones), for convolutions with
// symmetric padding. An algorithm that fails to set up is left out, not fatal.
#include <algorithm>

#include "backends/cuda/steps/conv_common.h"
#include "backends/cuda/steps/families.h"

namespace chexrt::cuda {
namespace {

// FFT and Winograd transform the data and lose digits (1e-5 to 1e-4 relative in fp32, more over
// a deep network): an fp32 engine, which must match the reference to 1e-4, keeps to the GEMM and
// direct algorithms.
bool exact_enough_for_fp32(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
}

const char* cudnn_algo_name(cudnnConvolutionFwdAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM:
      return "implicit_gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM:
      return "implicit_precomp_gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM:
      return "gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT:
      return "direct";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT:
      return "fft";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING:
      return "fft_tiling";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD:
      return "winograd";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED:
      return "winograd_nonfused";
    default:
      return "unknown";
  }
}

// cuDNN's legacy convolution API (present in 9.x), NHWC, fp16 tensor ops with fp32 accumulation
// or fp32 with FMA math only (no TF32: cudnnSetConvolutionMathType(CUDNN_FMA_MATH)).
class CudnnConvStep : public LibraryConvBase {
 public:
  static constexpr size_t kMaxWorkspace = size_t(1) << 30;

  CudnnConvStep(const ExecutionPlan& plan, ConvProblem p, cudnnConvolutionFwdAlgo_t algo)
      : LibraryConvBase(plan, std::move(p)), algo_(algo), per_batch_(plan.max_batch + 1) {}
  ~CudnnConvStep() override {
    for (auto& b : per_batch_) {
      if (!b) continue;
      cudnnDestroyTensorDescriptor(b->x);
      cudnnDestroyTensorDescriptor(b->y);
    }
    if (w_desc_) cudnnDestroyFilterDescriptor(w_desc_);
    if (conv_desc_) cudnnDestroyConvolutionDescriptor(conv_desc_);
  }
  static bool applicable(const ConvProblem& p) { return p.ph == p.ph_end && p.pw == p.pw_end; }

  // The algorithms cuDNN's heuristics offer for this problem at the max batch.
  static Result<std::vector<cudnnConvolutionFwdAlgo_t>> algorithms(const ExecutionPlan& plan, const ConvProblem& p,
                                                                   cudnnHandle_t handle) {
    CudnnConvStep probe(plan, p, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM);
    CHEXRT_RETURN_IF_ERROR(probe.create_descriptors());
    CHEXRT_ASSIGN_OR_RETURN(Batch * b, probe.batch_descriptors(p.batch));
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int returned = 0;
    CHEXRT_CUDNN_TRY(cudnnGetConvolutionForwardAlgorithm_v7(handle, b->x, probe.w_desc_, probe.conv_desc_, b->y,
                                                            CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf),
                     p.node_name + ": cuDNN heuristics");
    std::vector<cudnnConvolutionFwdAlgo_t> algos;
    const cudnnMathType_t math = is_fp16(plan) ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
    for (int i = 0; i < returned; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kMaxWorkspace) continue;
      if (!is_fp16(plan) && (perf[i].mathType != math || !exact_enough_for_fp32(perf[i].algo))) continue;
      if (std::find(algos.begin(), algos.end(), perf[i].algo) == algos.end()) algos.push_back(perf[i].algo);
    }
    return algos;
  }

  Status init(cudnnHandle_t handle) {
    handle_ = handle;
    CHEXRT_RETURN_IF_ERROR(upload_common());
    CHEXRT_RETURN_IF_ERROR(create_descriptors());
    const std::vector<float> w = p_.packed_weight(p_.in_c, p_.kh * p_.kw * p_.in_c);
    if (is_fp16(plan_)) {
      const std::vector<uint16_t> h = to_half(w);
      CHEXRT_RETURN_IF_ERROR(weight_.upload(h.data(), h.size() * 2, p_.node_name + " weights"));
    } else {
      CHEXRT_RETURN_IF_ERROR(weight_.upload(w.data(), w.size() * 4, p_.node_name + " weights"));
    }
    const ValueLayout& ly = plan_.values[p_.y];
    out_temp_ = ly.ld != ly.c;
    epilogue_ = out_temp_ || !p_.bias.empty() || p_.relu;
    return prepare(p_.batch);
  }
  std::string name() const override {
    return p_.op_name() + "_" + prec(plan_) + "_nhwc" + p_.fusion_suffix() + "__cudnn_" + cudnn_algo_name(algo_);
  }
  std::string signature() const override { return conv_signature(p_, plan_); }
  size_t scratch_bytes() const override {
    return packed_input_bytes() + (out_temp_ ? align_up(out_pixels(p_.batch) * p_.out_c * plan_.elem_size) : 0);
  }
  size_t workspace_bytes() const override { return per_batch_[p_.batch]->workspace; }

  Status prepare(int64_t batch) override {
    if (per_batch_[batch]) return Status::ok_status();
    CHEXRT_ASSIGN_OR_RETURN(Batch * b, batch_descriptors(batch));
    size_t bytes = 0;
    cudnnStatus_t s = cudnnGetConvolutionForwardWorkspaceSize(handle_, b->x, w_desc_, conv_desc_, b->y, algo_, &bytes);
    const size_t limit = batch == p_.batch ? kMaxWorkspace : per_batch_[p_.batch]->workspace;
    b->algo = algo_;
    if (s != CUDNN_STATUS_SUCCESS || bytes > limit) {
      // This algorithm does not take this batch within the workspace: ask the heuristics.
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int returned = 0;
      s = cudnnGetConvolutionForwardAlgorithm_v7(handle_, b->x, w_desc_, conv_desc_, b->y,
                                                 CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf);
      bool found = false;
      for (int i = 0; s == CUDNN_STATUS_SUCCESS && i < returned && !found; ++i) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > limit) continue;
        if (!is_fp16(plan_) && (perf[i].mathType != CUDNN_FMA_MATH || !exact_enough_for_fp32(perf[i].algo))) continue;
        b->algo = perf[i].algo;
        bytes = perf[i].memory;
        found = true;
      }
      if (!found) {
        return unsupported(p_.node_name + ": cuDNN has no algorithm for batch " + std::to_string(batch));
      }
    }
    b->workspace = bytes;
    return Status::ok_status();
  }

  Status enqueue(const RunContext& ctx) const override {
    const Batch& b = *per_batch_[ctx.batch];
    CHEXRT_ASSIGN_OR_RETURN(const void* x, library_input(ctx));
    const ValueLayout& ly = plan_.values[p_.y];
    void* conv_out = out_temp_ ? static_cast<char*>(ctx.scratch) + packed_input_bytes() : ctx.ptr(p_.y);
    const float alpha = 1.f, beta = 0.f;
    CHEXRT_CUDNN_TRY(cudnnSetStream(ctx.cudnn, ctx.stream), p_.node_name);
    CHEXRT_CUDNN_TRY(cudnnConvolutionForward(ctx.cudnn, &alpha, b.x, x, w_desc_, weight_.get(), conv_desc_, b.algo,
                                             ctx.workspace, ctx.workspace_bytes, &beta, b.y, conv_out),
                     p_.node_name + ": cudnnConvolutionForward");
    if (!epilogue_) return Status::ok_status();
    return check_cuda(
        launch_channel_map(conv_out, p_.out_c, ctx.ptr(p_.y), ly.ld, out_pixels(ctx.batch), p_.out_c, nullptr,
                           bias_.as<float>(), p_.relu ? Act::kRelu : Act::kNone, is_fp16(plan_), ctx.stream),
        p_.node_name + " epilogue");
  }

 private:
  struct Batch {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr;
    cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    size_t workspace = 0;
  };

  cudnnDataType_t dtype() const { return is_fp16(plan_) ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT; }

  Status create_descriptors() {
    CHEXRT_CUDNN_TRY(cudnnCreateFilterDescriptor(&w_desc_), p_.node_name);
    CHEXRT_CUDNN_TRY(cudnnSetFilter4dDescriptor(w_desc_, dtype(), CUDNN_TENSOR_NHWC, p_.out_c, p_.in_c, p_.kh, p_.kw),
                     p_.node_name + ": filter descriptor");
    CHEXRT_CUDNN_TRY(cudnnCreateConvolutionDescriptor(&conv_desc_), p_.node_name);
    CHEXRT_CUDNN_TRY(cudnnSetConvolution2dDescriptor(conv_desc_, p_.ph, p_.pw, p_.sh, p_.sw, p_.dh, p_.dw,
                                                     CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                     p_.node_name + ": convolution descriptor");
    CHEXRT_CUDNN_TRY(cudnnSetConvolutionMathType(conv_desc_, is_fp16(plan_) ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH),
                     p_.node_name + ": math type");
    return Status::ok_status();
  }

  Result<Batch*> batch_descriptors(int64_t batch) {
    auto b = std::make_unique<Batch>();
    CHEXRT_CUDNN_TRY(cudnnCreateTensorDescriptor(&b->x), p_.node_name);
    CHEXRT_CUDNN_TRY(cudnnCreateTensorDescriptor(&b->y), p_.node_name);
    per_batch_[batch] = std::move(b);
    Batch* raw = per_batch_[batch].get();
    const int n = static_cast<int>(batch);
    CHEXRT_CUDNN_TRY(cudnnSetTensor4dDescriptor(raw->x, CUDNN_TENSOR_NHWC, dtype(), n, p_.in_c, p_.in_h, p_.in_w),
                     p_.node_name + ": input descriptor");
    CHEXRT_CUDNN_TRY(cudnnSetTensor4dDescriptor(raw->y, CUDNN_TENSOR_NHWC, dtype(), n, p_.out_c, p_.out_h, p_.out_w),
                     p_.node_name + ": output descriptor");
    return raw;
  }

  cudnnHandle_t handle_ = nullptr;  // host-side queries only; owned by the engine
  cudnnConvolutionFwdAlgo_t algo_;
  cudnnFilterDescriptor_t w_desc_ = nullptr;
  cudnnConvolutionDescriptor_t conv_desc_ = nullptr;
  DeviceBuffer weight_;
  bool out_temp_ = false, epilogue_ = false;
  std::vector<std::unique_ptr<Batch>> per_batch_;
};

}  // namespace

Status conv_cudnn_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p, conv_problem(env.graph, env.plan, env.plan.steps[index], env.batch));
  if (!CudnnConvStep::applicable(p) || !out->may_want("__cudnn_")) return Status::ok_status();
  auto algos = CudnnConvStep::algorithms(env.plan, p, env.cudnn);
  if (!algos.ok()) {
    out->skipped = algos.status().message();
    return Status::ok_status();
  }
  for (cudnnConvolutionFwdAlgo_t algo : *algos) {
    auto step = std::make_unique<CudnnConvStep>(env.plan, p, algo);
    if (!out->wants(*step)) continue;
    const Status s = step->init(env.cudnn);
    out->add_or_skip(std::move(step), s);
  }
  return Status::ok_status();
}

}  // namespace chexrt::cuda
