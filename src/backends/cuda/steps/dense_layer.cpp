// A DenseNet dense layer (the 1x1 with its BN + ReLU prologue, then the 3x3) as one kernel on a
// thread-block cluster of 16 (kernels/dense_layer_cluster.cu): a tactic of the 1x1's step that
// also does the 3x3's, for small batches, where the two kernels' launch and drain cost more
// than their work.
//
// Candidates, fp16 on compute capability 9.0 and later, where the two steps are a dense layer:
// the batch on one cluster or shared by 2, 4, 8 or 16 (whole images or bands of rows), times
// each split of the 1x1's K (kDenseKSplits), each where dense_layer_cluster_fits() takes it.
#include <set>

#include "backends/cuda/kernels/dense_layer_cluster.cuh"
#include "backends/cuda/steps/conv_common.h"
#include "backends/cuda/steps/families.h"

namespace chexrt::cuda {
namespace {

class DenseLayerStep : public Step {
 public:
  /// `bands`: how many clusters share the profile's batch (whole images each, or bands of rows).
  DenseLayerStep(const ExecutionPlan& plan, ConvProblem conv1, ConvProblem conv2, int k_split, int bands)
      : plan_(plan), p1_(std::move(conv1)), p2_(std::move(conv2)), k_split_(k_split) {
    DenseLayerArgs a;
    a.batch = static_cast<int>(p1_.batch);
    a.height = p1_.in_h;
    set_dense_bands(bands, &a);
    band_rows_ = a.band_rows;
    band_images_ = a.band_images;
    k1_pad_ = (p1_.in_c + 31) / 32 * 32;
  }
  /// Whether conv1 -> conv2 is a dense layer the kernel computes: conv1 a 1x1 to 128 channels
  /// with a BN + ReLU prologue, read only by conv2, a 3x3 (stride 1, padding 1) to 32 channels,
  /// with a layout the kernel can address. (Whether a band shape fits: fits().)
  static bool is_dense_layer(const ir::Graph& g, const ExecutionPlan& plan, const ConvProblem& p1,
                             const ConvProblem& p2, int conv1_step, int conv2_node) {
    if (!is_fp16(plan) || !p1.pointwise() || !p1.has_prologue || !p1.prologue.relu || p1.out_c != kDenseMid ||
        p2.x != p1.y || p2.has_prologue || p2.kh != 3 || p2.kw != 3 || p2.sh != 1 || p2.sw != 1 || p2.ph != 1 ||
        p2.pw != 1 || p2.ph_end != 1 || p2.pw_end != 1 || p2.dh != 1 || p2.dw != 1 || p2.in_c != kDenseMid ||
        p2.c_logical != kDenseMid || p2.out_c != kDenseOut || p2.in_h != p1.out_h || p2.in_w != p1.out_w ||
        p2.out_h != p2.in_h || p2.out_w != p2.in_w) {
      return false;
    }
    if (g.is_graph_output(p1.y) || g.consumers()[p1.y] != std::vector<int>{conv2_node}) return false;
    const ValueLayout& lx = plan.values[p1.x];
    const ValueLayout& ly = plan.values[p2.y];
    if (lx.channel_offset % 8 != 0 || ly.channel_offset % 8 != 0) return false;
    // The kernel writes conv2's output during conv1's step: its buffer must already be live
    // there, or the memory planner may have given that memory to a value still in use.
    return plan.buffers[ly.buffer].first_step <= conv1_step;
  }
  /// Whether the kernel takes this step's bands at the profile's batch.
  bool fits() const {
    DenseLayerArgs a = shape_args(p1_.batch);
    a.k1_pad = k1_pad_;
    return dense_layer_cluster_fits(a);
  }
  Status init() {
    CHEXRT_RETURN_IF_ERROR(upload_f16_weights(p1_, p1_.in_c, k1_pad_, &w1_));
    CHEXRT_RETURN_IF_ERROR(upload_f16_weights(p2_, kDenseMid, 9 * kDenseMid, &w2_));
    CHEXRT_RETURN_IF_ERROR(upload_bias(p1_, &bias1_));
    CHEXRT_RETURN_IF_ERROR(upload_bias(p2_, &bias2_));
    return upload_f16_prologue(p1_, k1_pad_, &scale_, &shift_);
  }
  std::string name() const override {
    return "dense_layer_f16_nhwc" + p1_.fusion_suffix() + "_conv3x3" + p2_.fusion_suffix() + "__cluster" +
           std::to_string(kDenseCluster) + "_k" + std::to_string(k_split_) +
           (band_rows_ < p1_.in_h ? "_rows" + std::to_string(band_rows_) : "_images" + std::to_string(band_images_));
  }
  std::string signature() const override { return conv_signature(p1_, plan_) + " + " + conv_signature(p2_, plan_); }
  bool fuses_next() const override { return true; }
  Status enqueue(const RunContext& ctx) const override {
    DenseLayerArgs a = shape_args(ctx.batch);
    a.x = static_cast<const __half*>(ctx.ptr(p1_.x));
    a.y = static_cast<__half*>(ctx.ptr(p2_.y));
    a.pro_scale = scale_.as<__half>();
    a.pro_shift = shift_.as<__half>();
    a.w1 = w1_.as<__half>();
    a.k1_pad = k1_pad_;
    a.bias1 = bias1_.as<float>();
    a.w2 = w2_.as<__half>();
    a.bias2 = bias2_.as<float>();
    return check_cuda(launch_dense_layer_cluster(a, k_split_, ctx.stream), p1_.node_name + " + " + p2_.node_name);
  }

 private:
  DenseLayerArgs shape_args(int64_t batch) const {
    DenseLayerArgs a;
    a.x_ld = plan_.values[p1_.x].ld;
    a.batch = static_cast<int>(batch);
    a.height = p1_.in_h;
    a.width = p1_.in_w;
    a.in_c = p1_.in_c;
    a.relu1 = p1_.relu;
    a.relu2 = p2_.relu;
    a.y_ld = plan_.values[p2_.y].ld;
    a.band_rows = band_rows_;
    a.band_images = band_images_;
    return a;
  }

  const ExecutionPlan& plan_;
  ConvProblem p1_, p2_;
  int k_split_ = 16;
  int band_rows_ = 0, band_images_ = 0;
  int k1_pad_ = 0;
  DeviceBuffer w1_, w2_, bias1_, bias2_, scale_, shift_;
};

}  // namespace

// The dense-layer kernels for steps index and index + 1, when they take them on this GPU (thread-
// block clusters of 16 need compute capability 9.0).
Status dense_layer_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  const auto& steps = env.plan.steps;
  // Cheap checks first: conv_problem copies both layers' weights.
  if (env.device.major < 9 || !is_fp16(env.plan) || index + 1 >= static_cast<int>(steps.size()) ||
      steps[index].prologue < 0 || steps[index + 1].kind != StepKind::kConv ||
      steps[index + 1].reads[0] != env.graph.node(steps[index].node).outputs[0]) {
    return Status::ok_status();
  }
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p1, conv_problem(env.graph, env.plan, steps[index], env.batch));
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p2, conv_problem(env.graph, env.plan, steps[index + 1], env.batch));
  if (!DenseLayerStep::is_dense_layer(env.graph, env.plan, p1, p2, index, steps[index + 1].node)) {
    return Status::ok_status();
  }
  // One cluster for the whole batch, or 2 to 16 sharing it (smaller bands: less latency per
  // cluster and more multiprocessors at work, for mid rows computed twice).
  std::set<std::string> names;
  for (int bands : {1, 2, 4, 8, 16}) {
    for (int k_split : kDenseKSplits) {
      auto step = std::make_unique<DenseLayerStep>(env.plan, p1, p2, k_split, bands);
      if (!step->fits() || !names.insert(step->name()).second || !out->wants(*step)) continue;
      CHEXRT_RETURN_IF_ERROR(step->init());
      out->steps.push_back(std::move(step));
    }
  }
  return Status::ok_status();
}

}  // namespace chexrt::cuda
