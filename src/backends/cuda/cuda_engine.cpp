// The CUDA engine: execution contexts, building (every optimization profile's kernels chosen by
// the builder's tactic selection, which this file times on the device, only while the engine is
// built), running, inspection and benchmarks. Over 600 lines because these share the execution
// context, private to this file.
#include "backends/cuda/cuda_engine.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "backends/cuda/image_input.h"
#include "backends/cuda/jpeg_decoder.h"
#include "backends/cuda/kernels/pointwise.cuh"
#include "builder/optimization_profiles.h"
#include "builder/tactic_selection.h"
#include "core/concatenated_input.h"
#include "core/image_preprocess.h"

namespace chexrt::cuda {

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

const char* env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

int64_t per_image_elements(const TensorInfo& info) {
  return num_elements(info.dims) / std::max<int64_t>(1, info.dims[0]);
}

std::vector<TensorInfo> describe(const ir::Graph& g, const std::vector<int>& values) {
  std::vector<TensorInfo> out;
  for (int v : values) out.push_back({g.value(v).name, DataType::kFloat32, g.value(v).dims});
  return out;
}

// Events for timing one region of a stream.
class EventPair {
 public:
  EventPair() {
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
  }
  ~EventPair() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
  cudaEvent_t start = nullptr, stop = nullptr;
};

float elapsed_ms(cudaEvent_t a, cudaEvent_t b) {
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  return ms;
}

}  // namespace

CudaBuildSettings settings_from_environment() {
  CudaBuildSettings s;
  s.tactic_filter = env_or("CHEXRT_CUDA_TACTIC", "");
  s.timing_cache = builder::timing_cache_path_from_environment();
  return s;
}

// --- execution context ---------------------------------------------------------------------

class ExecutionContext {
 public:
  static Result<std::unique_ptr<ExecutionContext>> create(const CudaEngine& e, size_t scratch, size_t workspace) {
    std::unique_ptr<ExecutionContext> c(new ExecutionContext);
    CHEXRT_CUDA_TRY(cudaStreamCreateWithFlags(&c->stream_, cudaStreamNonBlocking), "creating a stream");
    CHEXRT_CUDNN_TRY(cudnnCreate(&c->cudnn_), "creating a cuDNN handle");
    CHEXRT_CUBLAS_TRY(cublasLtCreate(&c->cublaslt_), "creating a cuBLASLt handle");
    CHEXRT_RETURN_IF_ERROR(c->arena_.allocate(static_cast<size_t>(e.plan_.arena_bytes), "activation arena"));
    CHEXRT_RETURN_IF_ERROR(c->scratch_.allocate(scratch, "scratch"));
    CHEXRT_RETURN_IF_ERROR(c->workspace_.allocate(workspace, "library workspace"));
    for (const TensorInfo& info : e.inputs_) {
      const size_t bytes = num_elements(info.dims) * sizeof(float);
      c->in_dev_.emplace_back();
      c->in_half_dev_.emplace_back();
      c->in_host_.emplace_back();
      CHEXRT_RETURN_IF_ERROR(c->in_dev_.back().allocate(bytes, "input staging '" + info.name + "'"));
      CHEXRT_RETURN_IF_ERROR(c->in_half_dev_.back().allocate(bytes / 2, "half input staging '" + info.name + "'"));
      CHEXRT_RETURN_IF_ERROR(c->in_host_.back().allocate(bytes, "input staging '" + info.name + "'"));
    }
    for (const TensorInfo& info : e.outputs_) {
      const size_t bytes = num_elements(info.dims) * sizeof(float);
      c->out_dev_.emplace_back();
      c->out_host_.emplace_back();
      CHEXRT_RETURN_IF_ERROR(c->out_dev_.back().allocate(bytes, "output staging '" + info.name + "'"));
      CHEXRT_RETURN_IF_ERROR(c->out_host_.back().allocate(bytes, "output staging '" + info.name + "'"));
    }
    return c;
  }

  ~ExecutionContext() {
    if (stream_) cudaStreamSynchronize(stream_);
    drop_graphs();
    if (cublaslt_) cublasLtDestroy(cublaslt_);
    if (cudnn_) cudnnDestroy(cudnn_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  /// Grows scratch and workspace to at least these sizes (a profile timed after this context
  /// was made may need more). Captured graphs hold the old addresses, so they are dropped.
  Status ensure_memory(size_t scratch, size_t workspace) {
    if (scratch_.bytes() >= scratch && workspace_.bytes() >= workspace) return Status::ok_status();
    CHEXRT_RETURN_IF_ERROR(synchronize("growing scratch memory"));
    drop_graphs();
    if (scratch_.bytes() < scratch) CHEXRT_RETURN_IF_ERROR(scratch_.allocate(scratch, "scratch"));
    if (workspace_.bytes() < workspace) CHEXRT_RETURN_IF_ERROR(workspace_.allocate(workspace, "library workspace"));
    return Status::ok_status();
  }

  cudaStream_t stream() const { return stream_; }
  float* host_input(size_t i) const { return static_cast<float*>(in_host_[i].get()); }

  RunContext run_context(const CudaEngine& e, int64_t batch) const {
    RunContext r;
    r.stream = stream_;
    r.cudnn = cudnn_;
    r.cublaslt = cublaslt_;
    r.arena = arena_.as<char>();
    r.scratch = scratch_.get();
    r.scratch_bytes = scratch_.bytes();
    r.workspace = workspace_.get();
    r.workspace_bytes = workspace_.bytes();
    for (const auto& b : in_dev_) r.inputs.push_back(b.as<float>());
    for (const auto& b : out_dev_) r.outputs.push_back(b.as<float>());
    r.plan = &e.plan_;
    r.batch = batch;
    return r;
  }

  /// Enqueues every step; with `events` (one more than steps), records one before each step and
  /// one after the last, for the per-layer profile.
  Status enqueue_steps(const CudaEngine& e, const std::vector<Step*>& steps, int64_t batch,
                       const std::vector<cudaEvent_t>* events = nullptr) const {
    const RunContext r = run_context(e, batch);
    for (size_t s = 0; s < steps.size(); ++s) {
      if (events) cudaEventRecord((*events)[s], stream_);
      CHEXRT_RETURN_IF_ERROR(steps[s]->enqueue(r));
    }
    if (events) cudaEventRecord(events->back(), stream_);
    return Status::ok_status();
  }

  /// The forward pass: a replay of this batch's CUDA graph, or the steps one by one. A batch
  /// size's first run launches the steps (a capture would cost several runs' time); its second
  /// captures the graph. `steps` are the batch's profile's (always the same for one batch).
  Status enqueue_compute(const CudaEngine& e, const std::vector<Step*>& steps, int64_t batch, bool use_graph) {
    if (!use_graph) return enqueue_steps(e, steps, batch);
    auto it = graphs_.find(batch);
    if (it == graphs_.end() && ran_direct_.insert(batch).second) return enqueue_steps(e, steps, batch);
    if (it == graphs_.end()) {
      cudaGraph_t graph = nullptr;
      CHEXRT_CUDA_TRY(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "beginning graph capture");
      const Status s = enqueue_steps(e, steps, batch);
      const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
      if (!s.ok()) {
        if (graph) cudaGraphDestroy(graph);
        return s.with_context("while capturing a CUDA graph");
      }
      CHEXRT_CUDA_TRY(end, "ending graph capture");
      cudaGraphExec_t exec = nullptr;
      const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      CHEXRT_CUDA_TRY(inst, "instantiating the CUDA graph for batch " + std::to_string(batch));
      it = graphs_.emplace(batch, exec).first;
    }
    CHEXRT_CUDA_TRY(cudaGraphLaunch(it->second, stream_), "launching the CUDA graph");
    return Status::ok_status();
  }

  Status enqueue_h2d(const CudaEngine& e, int64_t batch) {
    for (size_t i = 0; i < e.inputs_.size(); ++i) {
      const size_t bytes = batch * per_image_elements(e.inputs_[i]) * sizeof(float);
      CHEXRT_CUDA_TRY(cudaMemcpyAsync(in_dev_[i].get(), in_host_[i].get(), bytes, cudaMemcpyHostToDevice, stream_),
                      "copying input '" + e.inputs_[i].name + "'");
    }
    return Status::ok_status();
  }

  Status enqueue_d2h(const CudaEngine& e, int64_t batch) {
    for (size_t i = 0; i < e.outputs_.size(); ++i) {
      const size_t bytes = batch * per_image_elements(e.outputs_[i]) * sizeof(float);
      CHEXRT_CUDA_TRY(cudaMemcpyAsync(out_host_[i].get(), out_dev_[i].get(), bytes, cudaMemcpyDeviceToHost, stream_),
                      "copying output '" + e.outputs_[i].name + "'");
    }
    return Status::ok_status();
  }

  Status synchronize(const std::string& what) const { return check_cuda(cudaStreamSynchronize(stream_), what); }

  /// Runs `steps` once at `batch` on zeroed inputs, outputs discarded: CUDA loads a kernel's module
  /// at its first launch, and libraries set up on first use, which must not fall on a request.
  Status warm_up(const CudaEngine& e, const std::vector<Step*>& steps, int64_t batch) {
    for (size_t i = 0; i < e.inputs_.size(); ++i) {
      const size_t bytes = batch * per_image_elements(e.inputs_[i]) * sizeof(float);
      CHEXRT_CUDA_TRY(cudaMemsetAsync(in_half_dev_[i].get(), 0, bytes / 2, stream_),
                      "zeroing input '" + e.inputs_[i].name + "'");
      // The widening kernel of float16 inputs runs too (its module loads at its first launch).
      CHEXRT_CUDA_TRY(
          launch_half_to_float(in_half_dev_[i].get(), in_dev_[i].as<float>(), bytes / sizeof(float), stream_),
          "widening input '" + e.inputs_[i].name + "'");
    }
    CHEXRT_RETURN_IF_ERROR(enqueue_steps(e, steps, batch));
    return synchronize("warming up the kernels of batch " + std::to_string(batch));
  }

  Status infer(const CudaEngine& e, const std::vector<Step*>& steps, const std::vector<HostTensor>& inputs,
               int64_t batch, bool use_graph, std::vector<HostTensor>* outputs) {
    for (size_t i = 0; i < inputs.size(); ++i) CHEXRT_RETURN_IF_ERROR(upload_input(e, i, {inputs[i]}));
    return run(e, steps, batch, use_graph, outputs);
  }

  /// infer() of a one-input engine whose input is `parts` one after another (checked by the caller).
  Status infer_concatenated(const CudaEngine& e, const std::vector<Step*>& steps, const std::vector<HostTensor>& parts,
                            int64_t batch, bool use_graph, std::vector<HostTensor>* outputs) {
    CHEXRT_RETURN_IF_ERROR(upload_input(e, 0, parts));
    return run(e, steps, batch, use_graph, outputs);
  }

  /// Copies host input `i`, given as `parts` one after another, into the pinned staging and on to
  /// the device in chunks, each chunk's upload running while the next is copied (a batch of 256
  /// is 154 MB of float32). Float16 parts travel as they are, half the bytes, and are widened on
  /// the device.
  Status upload_input(const CudaEngine& e, size_t i, const std::vector<HostTensor>& parts) {
    constexpr size_t kChunkBytes = size_t{4} << 20;
    const bool half = parts[0].dtype() == DataType::kFloat16;
    auto* staging = static_cast<uint8_t*>(in_host_[i].get());
    auto* dst = static_cast<uint8_t*>(half ? in_half_dev_[i].get() : in_dev_[i].get());
    size_t offset = 0;  // into the whole input
    int64_t elements = 0;
    for (const HostTensor& part : parts) {
      const auto* src = static_cast<const uint8_t*>(part.raw());
      const size_t bytes = part.nbytes();
      for (size_t done = 0; done < bytes; done += kChunkBytes) {
        const size_t n = std::min(kChunkBytes, bytes - done);
        std::memcpy(staging + offset, src + done, n);
        CHEXRT_CUDA_TRY(cudaMemcpyAsync(dst + offset, staging + offset, n, cudaMemcpyHostToDevice, stream_),
                        "copying input '" + e.inputs_[i].name + "'");
        offset += n;
      }
      elements += part.numel();
    }
    if (half) {
      CHEXRT_CUDA_TRY(launch_half_to_float(dst, in_dev_[i].as<float>(), elements, stream_),
                      "widening the float16 input '" + e.inputs_[i].name + "'");
    }
    return Status::ok_status();
  }

  /// infer() from 8-bit images (or PNG rows unfiltered there, or JPEG views decoded on the GPU
  /// where nvJPEG is available) preprocessed on the GPU into the (one) input buffer.
  Status infer_images(const CudaEngine& e, const std::vector<Step*>& steps, const std::vector<ImageView>& images,
                      const PreprocessOptions& options, int64_t batch, bool use_graph,
                      std::vector<HostTensor>* outputs) {
    const Status s = images_.enqueue(images, options, in_dev_[0].as<float>(), stream_, jpeg_decoder(images));
    if (!s.ok()) {
      // What was enqueued still reads the staging and the files' bytes: done before they change.
      cudaStreamSynchronize(stream_);
      return s;
    }
    CHEXRT_RETURN_IF_ERROR(run(e, steps, batch, use_graph, outputs));
    return images_.unfilter_status();
  }

  /// The forward pass on inputs already on the device, and the outputs back to the host.
  Status run(const CudaEngine& e, const std::vector<Step*>& steps, int64_t batch, bool use_graph,
             std::vector<HostTensor>* outputs) {
    CHEXRT_RETURN_IF_ERROR(enqueue_compute(e, steps, batch, use_graph));
    CHEXRT_RETURN_IF_ERROR(enqueue_d2h(e, batch));
    CHEXRT_RETURN_IF_ERROR(synchronize("running the engine"));
    outputs->clear();
    for (size_t i = 0; i < e.outputs_.size(); ++i) {
      Dims dims = e.outputs_[i].dims;
      dims[0] = batch;
      HostTensor t(DataType::kFloat32, dims);
      std::memcpy(t.raw(), out_host_[i].get(), t.nbytes());
      outputs->push_back(t);
    }
    return Status::ok_status();
  }

 private:
  ExecutionContext() = default;

  /// The nvJPEG decoder, made at the first batch with JPEG views (its handles take a while); null
  /// where nvJPEG cannot be used, and the host then decodes them.
  JpegDecoder* jpeg_decoder(const std::vector<ImageView>& images) {
    if (!jpeg_tried_ && std::any_of(images.begin(), images.end(), is_jpeg)) {
      jpeg_tried_ = true;
      auto made = JpegDecoder::create();
      if (made.ok()) jpeg_ = std::move(*made);
    }
    return jpeg_.get();
  }

  void drop_graphs() {
    for (auto& [batch, exec] : graphs_) cudaGraphExecDestroy(exec);
    graphs_.clear();
  }

  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasLtHandle_t cublaslt_ = nullptr;
  DeviceBuffer arena_, scratch_, workspace_;
  std::vector<DeviceBuffer> in_dev_, in_half_dev_, out_dev_;
  std::vector<PinnedBuffer> in_host_, out_host_;
  std::map<int64_t, cudaGraphExec_t> graphs_;
  std::set<int64_t> ran_direct_;  // batch sizes run once without a graph
  ImagePreprocessor images_;
  std::unique_ptr<JpegDecoder> jpeg_;
  bool jpeg_tried_ = false;
};

// --- build ---------------------------------------------------------------------------------

Result<std::unique_ptr<CudaEngine>> CudaEngine::build(const ir::Graph& graph, const BuildOptions& options,
                                                      const CudaBuildSettings& settings) {
  // Everything the engine owns (weights, handles, contexts) is made on its GPU.
  CHEXRT_RETURN_IF_ERROR(check_gpu_ordinal(options.gpu));
  const DeviceScope scope(options.gpu);
  CHEXRT_RETURN_IF_ERROR(scope.status());
  std::unique_ptr<CudaEngine> e(new CudaEngine);
  e->gpu_ = options.gpu;
  CHEXRT_CUDA_TRY(cudaGetDeviceProperties(&e->device_, options.gpu), "reading the GPU's properties");
  e->graph_ = graph;
  CHEXRT_ASSIGN_OR_RETURN(e->plan_, make_plan(e->graph_, options.max_batch, options.precision));
  e->options_ = options;
  e->settings_ = settings;
  e->inputs_ = describe(e->graph_, e->graph_.inputs());
  e->outputs_ = describe(e->graph_, e->graph_.outputs());
  e->device_name_ = e->device_.name;
  e->graphs_default_ = std::string(env_or("CHEXRT_CUDA_GRAPHS", "1")) != "0";
  e->max_contexts_ = std::max(1, std::atoi(env_or("CHEXRT_CUDA_MAX_CONTEXTS", "4")));
  CHEXRT_CUDNN_TRY(cudnnCreate(&e->cudnn_), "creating a cuDNN handle");
  CHEXRT_CUBLAS_TRY(cublasLtCreate(&e->cublaslt_), "creating a cuBLASLt handle");
  if (!settings.timing_cache.empty()) CHEXRT_RETURN_IF_ERROR(e->cache_.load(settings.timing_cache));
  // Every profile's tactics, from the largest batch down (a smaller profile reuses a larger
  // one's step where it chose the same kernel): stored ones where given, else timed now.
  std::vector<std::map<int64_t, std::string>> stored(settings.tactics.size());
  for (size_t n = 0; n < settings.tactics.size(); ++n) stored[n] = builder::parse_profile_tactics(settings.tactics[n]);
  const std::vector<int64_t> batches =
      builder::optimization_profiles(options.min_batch, options.opt_batch, options.max_batch);
  {
    std::lock_guard<std::mutex> lock(e->prepare_mu_);
    for (auto b = batches.rbegin(); b != batches.rend(); ++b) {
      std::vector<std::string> forced(stored.size());
      for (size_t n = 0; n < stored.size(); ++n) {
        auto it = stored[n].find(*b);
        // A name alone forces the largest profile's tactic; the smaller profiles are timed.
        if (it == stored[n].end() && *b == options.max_batch) it = stored[n].find(0);
        if (it != stored[n].end()) forced[n] = it->second;
      }
      CHEXRT_RETURN_IF_ERROR(e->tune_profile(*b, forced).status());
    }
    e->max_profile_ = e->profiles_.front().get();
  }
  // Every batch size's library set-up, each profile's own batch first (smaller batches size
  // their workspaces by it), then one execution context.
  for (int64_t b = options.max_batch; b >= 1; --b) {
    CHEXRT_ASSIGN_OR_RETURN(const Profile* profile, e->prepare_batch(b));
    for (Step* step : profile->steps) CHEXRT_RETURN_IF_ERROR(step->prepare(b));
  }
  size_t scratch = 0, workspace = 0;
  for (const auto& p : e->profiles_) {
    scratch = std::max(scratch, p->scratch_bytes);
    workspace = std::max(workspace, p->workspace_bytes);
  }
  CHEXRT_ASSIGN_OR_RETURN(auto ctx, ExecutionContext::create(*e, scratch, workspace));
  // Every batch size runs once, so that its first request launches no kernel for the first time:
  // CUDA loads a kernel's module at its first launch (about 1-2 ms), and cuDNN and cuBLASLt may
  // pick other kernels for the other batch sizes of one profile than for the profile's own.
  for (int64_t b = 1; b <= options.max_batch; ++b) {
    CHEXRT_ASSIGN_OR_RETURN(const Profile* profile, e->prepare_batch(b));
    CHEXRT_RETURN_IF_ERROR(ctx->warm_up(*e, profile->steps, b));
  }
  e->live_contexts_ = 1;
  e->release(std::move(ctx));
  return e;
}

namespace {

// The CUDA side of tactic selection (builder/tactic_selection.h): one profile's candidate
// steps, timed with events on an execution context's stream. Without a context it only
// describes the candidates (for a profile where every step has one).
class CudaTacticTimer final : public builder::TacticTimer {
 public:
  using Lists = std::vector<std::vector<std::unique_ptr<Step>>>;
  CudaTacticTimer(const Lists& lists, const std::string& device_name, ExecutionContext* ctx = nullptr,
                  const RunContext* rc = nullptr, bool verbose = false)
      : lists_(lists), device_name_(device_name), ctx_(ctx), rc_(rc), verbose_(verbose) {}

  size_t num_steps() const override { return lists_.size(); }
  size_t num_candidates(size_t s) const override { return lists_[s].size(); }
  std::string name(size_t s, size_t c) const override { return lists_[s][c]->name(); }
  bool fuses_next(size_t s, size_t c) const override { return lists_[s][c]->fuses_next(); }
  std::string cache_key(size_t s, size_t c) const override {
    return device_name_ + "|" + lists_[s][c]->name() + "|" + lists_[s][c]->signature();
  }

  Result<double> time(size_t s, size_t c) override {
    if (!ctx_) return runtime_error("cuda: timing a tactic needs an execution context");
    const Step& step = *lists_[s][c];
    // Warm-up; a fault while running stays fatal (synchronize below).
    const Status warm = step.enqueue(*rc_);
    if (!warm.ok()) {
      cudaGetLastError();
      CHEXRT_RETURN_IF_ERROR(ctx_->synchronize("after refused tactic " + step.name()));
      if (verbose_) std::fprintf(stderr, "cuda: tactic %s refused: %s\n", step.name().c_str(), warm.message().c_str());
      return kRefused;
    }
    constexpr int kReps = 5;
    cudaEventRecord(events_.start, ctx_->stream());
    for (int r = 0; r < kReps; ++r) CHEXRT_RETURN_IF_ERROR(step.enqueue(*rc_));
    cudaEventRecord(events_.stop, ctx_->stream());
    CHEXRT_RETURN_IF_ERROR(ctx_->synchronize("timing tactic " + step.name()));
    return static_cast<double>(elapsed_ms(events_.start, events_.stop)) / kReps;
  }

  Status run(size_t s, size_t c) override {
    if (!ctx_) return runtime_error("cuda: running a tactic needs an execution context");
    const Step& step = *lists_[s][c];
    CHEXRT_RETURN_IF_ERROR(step.enqueue(*rc_));
    return ctx_->synchronize("running " + step.name());
  }

 private:
  const Lists& lists_;
  const std::string& device_name_;
  ExecutionContext* ctx_;
  const RunContext* rc_;
  bool verbose_;
  EventPair events_;
};

}  // namespace

Result<const CudaEngine::Profile*> CudaEngine::tune_profile(int64_t batch, const std::vector<std::string>& forced) {
  const StepFactoryEnv env{graph_, plan_, cudnn_, cublaslt_, device_, batch};
  const size_t num_steps = plan_.steps.size();
  std::vector<std::vector<std::unique_ptr<Step>>> candidates(num_steps);
  size_t scratch = 0, workspace = 0;
  for (size_t s = 0; s < num_steps; ++s) {
    const StepDesc& desc = plan_.steps[s];
    std::string wanted = desc.node >= 0 && desc.node < static_cast<int>(forced.size()) ? forced[desc.node] : "";
    // A node whose work a fused kernel of the previous node does: settled with that node below.
    if (is_fused_away_name(wanted)) wanted.clear();
    // With a tactic given, only that candidate is set up (an engine file loads without setting
    // up, or timing, the others).
    auto made = make_step_candidates(env, static_cast<int>(s), wanted);
    if (!made.ok()) return made.status();
    auto& list = candidates[s] = std::move(*made);
    const auto keep_if = [&](auto pred) {
      std::vector<std::unique_ptr<Step>> kept;
      for (auto& c : list) {
        if (pred(*c)) kept.push_back(std::move(c));
      }
      return kept;
    };
    if (!wanted.empty()) {
      auto kept = keep_if([&](const Step& c) { return c.name() == wanted; });
      if (kept.empty()) {
        return runtime_error(ir::describe(graph_.node(desc.node)) + ": tactic '" + wanted +
                             "' is not available with this GPU and these libraries");
      }
      list = std::move(kept);
    } else if (!settings_.tactic_filter.empty() && (desc.kind == StepKind::kConv || desc.kind == StepKind::kPool)) {
      auto kept = keep_if([&](const Step& c) { return c.name().find(settings_.tactic_filter) != std::string::npos; });
      if (!kept.empty()) list = std::move(kept);
    }
    for (const auto& c : list) {
      scratch = std::max(scratch, c->scratch_bytes());
      workspace = std::max(workspace, c->workspace_bytes());
    }
  }

  // The builder chooses (builder/tactic_selection.h); this engine times and runs what it asks.
  std::vector<size_t> chosen;
  if (builder::needs_timing(CudaTacticTimer(candidates, device_name_))) {
    CHEXRT_ASSIGN_OR_RETURN(auto ctx, ExecutionContext::create(*this, scratch, workspace));
    // Realistic data flows through the network while it is timed: random inputs, and every
    // step's output comes from its chosen tactic.
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const int64_t n = batch * per_image_elements(inputs_[i]);
      for (int64_t k = 0; k < n; ++k) ctx->host_input(i)[k] = normal(rng);
    }
    CHEXRT_RETURN_IF_ERROR(ctx->enqueue_h2d(*this, batch));
    const RunContext rc = ctx->run_context(*this, batch);
    CudaTacticTimer timer(candidates, device_name_, ctx.get(), &rc, options_.verbose);
    const builder::SelectionLog log{options_.verbose, "cuda: batch " + std::to_string(batch)};
    CHEXRT_ASSIGN_OR_RETURN(chosen, builder::select_tactics(timer, &cache_, log));
    // The cache only saves time later: failing to write it is worth a warning, not the build.
    if (!settings_.timing_cache.empty()) {
      const Status saved = cache_.save(settings_.timing_cache);
      if (!saved.ok()) std::fprintf(stderr, "chexrt: warning: timing cache not saved: %s\n", saved.to_string().c_str());
    }
  } else {
    CudaTacticTimer untimed(candidates, device_name_);  // one candidate per step: nothing is timed
    CHEXRT_ASSIGN_OR_RETURN(chosen, builder::select_tactics(untimed, nullptr, {}));
  }
  // Keep the chosen step of each plan step; the step after a fused kernel runs nothing.
  for (size_t s = 0; s < num_steps; ++s) {
    auto& list = candidates[s];
    if (chosen[s] == builder::kFusedAway) {
      list.clear();
      list.push_back(fused_away_step(*candidates[s - 1][0]));
      continue;
    }
    std::unique_ptr<Step> step = std::move(list[chosen[s]]);
    list.clear();
    list.push_back(std::move(step));
    const int node = plan_.steps[s].node;
    if (node >= 0 && node < static_cast<int>(forced.size()) && is_fused_away_name(forced[node])) {
      return runtime_error(ir::describe(graph_.node(node)) + ": tactic '" + forced[node] +
                           "' needs the previous node's fused kernel, which was not chosen");
    }
  }

  auto profile = std::make_unique<Profile>();
  profile->batch = batch;
  for (size_t s = 0; s < num_steps; ++s) {
    std::unique_ptr<Step>& chosen = candidates[s][0];
    // The same kernel chosen by a profile of larger batches already exists and runs this
    // profile's batches too (its scratch, split-K and library set-up are sized for more).
    Step* step = nullptr;
    for (const auto& other : profiles_) {
      if (other->batch >= batch && other->steps[s]->name() == chosen->name()) step = other->steps[s];
    }
    if (!step) {
      steps_.push_back(std::move(chosen));
      step = steps_.back().get();
    }
    profile->scratch_bytes = std::max(profile->scratch_bytes, step->scratch_bytes());
    profile->workspace_bytes = std::max(profile->workspace_bytes, step->workspace_bytes());
    profile->steps.push_back(step);
  }
  profiles_.push_back(std::move(profile));
  return profiles_.back().get();
}

Result<std::vector<std::vector<std::string>>> CudaEngine::candidate_tactics(const ir::Graph& graph,
                                                                            const BuildOptions& options) {
  CHEXRT_RETURN_IF_ERROR(check_gpu_ordinal(options.gpu));
  const DeviceScope scope(options.gpu);
  CHEXRT_RETURN_IF_ERROR(scope.status());
  cudaDeviceProp prop{};
  CHEXRT_CUDA_TRY(cudaGetDeviceProperties(&prop, options.gpu), "reading the GPU's properties");
  std::unique_ptr<CudaEngine> e(new CudaEngine);  // owns the handles and the plan while listing
  e->gpu_ = options.gpu;
  e->graph_ = graph;
  CHEXRT_ASSIGN_OR_RETURN(e->plan_, make_plan(e->graph_, options.max_batch, options.precision));
  CHEXRT_CUDNN_TRY(cudnnCreate(&e->cudnn_), "creating a cuDNN handle");
  CHEXRT_CUBLAS_TRY(cublasLtCreate(&e->cublaslt_), "creating a cuBLASLt handle");
  const StepFactoryEnv env{e->graph_, e->plan_, e->cudnn_, e->cublaslt_, prop, options.max_batch};
  std::vector<std::vector<std::string>> names(graph.num_nodes());
  for (size_t s = 0; s < e->plan_.steps.size(); ++s) {
    const int node = e->plan_.steps[s].node;
    if (node < 0) continue;
    CHEXRT_ASSIGN_OR_RETURN(auto list, make_step_candidates(env, static_cast<int>(s)));
    for (const auto& c : list) names[node].push_back(c->name());
  }
  return names;
}

CudaEngine::~CudaEngine() {
  const DeviceScope scope(gpu_);
  idle_renderers_.clear();
  idle_.clear();
  steps_.clear();
  if (cublaslt_) cublasLtDestroy(cublaslt_);
  if (cudnn_) cudnnDestroy(cudnn_);
}

// --- run -----------------------------------------------------------------------------------

Result<const CudaEngine::Profile*> CudaEngine::prepare_batch(int64_t batch) {
  if (batch < 1 || batch > plan_.max_batch) {
    return invalid_argument("batch " + std::to_string(batch) + " is outside the engine's range 1.." +
                            std::to_string(plan_.max_batch));
  }
  // profiles_ runs from the largest batch down: the last one at least `batch`, or the smallest.
  const Profile* profile = profiles_.back().get();
  for (const auto& p : profiles_) {
    if (p->batch >= batch) profile = p.get();
  }
  return profile;
}

Result<std::unique_ptr<ExecutionContext>> CudaEngine::acquire(bool allow_extra, const Profile& profile) {
  std::unique_ptr<ExecutionContext> ctx;
  {
    std::unique_lock<std::mutex> lock(pool_mu_);
    pool_cv_.wait(lock, [&] { return !idle_.empty() || live_contexts_ < max_contexts_ || allow_extra; });
    if (!idle_.empty()) {
      ctx = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++live_contexts_;
    }
  }
  if (!ctx) {
    auto made = ExecutionContext::create(*this, profile.scratch_bytes, profile.workspace_bytes);
    if (!made.ok()) {
      std::lock_guard<std::mutex> lock(pool_mu_);
      --live_contexts_;
      pool_cv_.notify_one();
      return made.status();
    }
    return std::move(*made);
  }
  const Status s = ctx->ensure_memory(profile.scratch_bytes, profile.workspace_bytes);
  if (!s.ok()) {
    release(std::move(ctx));
    return s;
  }
  return ctx;
}

void CudaEngine::release(std::unique_ptr<ExecutionContext> ctx) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  idle_.push_back(std::move(ctx));
  pool_cv_.notify_one();
}

Result<int64_t> CudaEngine::check_inputs(const std::vector<HostTensor>& inputs) const {
  if (inputs.size() != inputs_.size()) {
    return invalid_argument("the engine takes " + std::to_string(inputs_.size()) + " input(s), got " +
                            std::to_string(inputs.size()));
  }
  int64_t batch = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Dims& want = inputs_[i].dims;
    const Dims& got = inputs[i].dims();
    const DataType t = inputs[i].dtype();
    bool fits = (t == DataType::kFloat32 || t == DataType::kFloat16) && got.size() == want.size() && !got.empty();
    for (size_t d = 1; fits && d < got.size(); ++d) fits = got[d] == want[d];
    if (!fits) {
      return invalid_argument("input '" + inputs_[i].name + "' is " + dtype_name(inputs[i].dtype()) + " " +
                              dims_to_string(got) + ", expected float32 (or float16) " + dims_to_string(want) +
                              " with any batch up to " + std::to_string(max_batch()));
    }
    if (batch >= 0 && got[0] != batch) return invalid_argument("inputs disagree on the batch size");
    batch = got[0];
  }
  if (batch < 1 || batch > max_batch()) {
    return invalid_argument("batch " + std::to_string(batch) + " is outside the engine's range 1.." +
                            std::to_string(max_batch()));
  }
  return batch;
}

Status CudaEngine::infer(const std::vector<HostTensor>& inputs, std::vector<HostTensor>* outputs) {
  return infer_with(inputs, graphs_default_, outputs);
}

Status CudaEngine::infer_with(const std::vector<HostTensor>& inputs, bool use_cuda_graph,
                              std::vector<HostTensor>* outputs) {
  const DeviceScope scope(gpu_);
  CHEXRT_RETURN_IF_ERROR(scope.status());
  CHEXRT_ASSIGN_OR_RETURN(int64_t batch, check_inputs(inputs));
  CHEXRT_ASSIGN_OR_RETURN(const Profile* profile, prepare_batch(batch));
  CHEXRT_ASSIGN_OR_RETURN(auto ctx, acquire(false, *profile));
  const Status s = ctx->infer(*this, profile->steps, inputs, batch, use_cuda_graph, outputs);
  release(std::move(ctx));
  return s;
}

Status CudaEngine::infer_concatenated(const std::vector<HostTensor>& parts, std::vector<HostTensor>* outputs) {
  CHEXRT_ASSIGN_OR_RETURN(const Dims dims, concatenated_dims(*this, parts));
  // The input checks of infer(), on the whole batch's shape (a part's rows alone could pass them).
  const HostTensor whole = HostTensor::wrap(parts[0].dtype(), dims, nullptr, nullptr);
  const DeviceScope scope(gpu_);
  CHEXRT_RETURN_IF_ERROR(scope.status());
  CHEXRT_ASSIGN_OR_RETURN(int64_t batch, check_inputs({whole}));
  CHEXRT_ASSIGN_OR_RETURN(const Profile* profile, prepare_batch(batch));
  CHEXRT_ASSIGN_OR_RETURN(auto ctx, acquire(false, *profile));
  const Status s = ctx->infer_concatenated(*this, profile->steps, parts, batch, graphs_default_, outputs);
  release(std::move(ctx));
  return s;
}

Status CudaEngine::infer_images(const std::vector<ImageView>& images, const PreprocessOptions& options,
                                std::vector<HostTensor>* outputs) {
  if (!ImagePreprocessor::supports(images)) return Engine::infer_images(images, options, outputs);
  const DeviceScope scope(gpu_);
  CHEXRT_RETURN_IF_ERROR(scope.status());
  CHEXRT_ASSIGN_OR_RETURN(const int64_t batch, preprocessing::check_image_batch(*this, images, options));
  CHEXRT_ASSIGN_OR_RETURN(const Profile* profile, prepare_batch(batch));
  CHEXRT_ASSIGN_OR_RETURN(auto ctx, acquire(false, *profile));
  const Status s = ctx->infer_images(*this, profile->steps, images, options, batch, graphs_default_, outputs);
  release(std::move(ctx));
  return s;
}

bool CudaEngine::decodes_jpeg_on_device() const { return JpegDecoder::available().ok(); }

Status CudaEngine::draw_heatmaps(const HostTensor& features, const HostTensor& weights,
                                 const std::vector<HeatmapRequest>& requests, float max_alpha) {
  const DeviceScope scope(gpu_);
  // One renderer per concurrent caller, made on first need and kept for the next call.
  std::unique_ptr<HeatmapRenderer> renderer;
  {
    std::lock_guard<std::mutex> lock(renderers_mu_);
    if (!idle_renderers_.empty()) {
      renderer = std::move(idle_renderers_.back());
      idle_renderers_.pop_back();
    }
  }
  if (!renderer) {
    CHEXRT_ASSIGN_OR_RETURN(renderer, HeatmapRenderer::create());
  }
  const Status s = renderer->draw(features, weights, requests, max_alpha);
  std::lock_guard<std::mutex> lock(renderers_mu_);
  idle_renderers_.push_back(std::move(renderer));
  return s;
}

Result<std::vector<std::string>> CudaEngine::tactics_for_batch(int64_t batch) {
  if (batch < 1 || batch > max_batch()) {
    return invalid_argument("batch " + std::to_string(batch) + " is outside the engine's range 1.." +
                            std::to_string(max_batch()));
  }
  CHEXRT_ASSIGN_OR_RETURN(const Profile* profile, prepare_batch(batch));
  return profile_tactics(*profile);
}

// --- inspection ----------------------------------------------------------------------------

// Nodes that run no kernel of their own get the plan's note in parentheses ("(fused into
// conv1)", "(in place)", "(view)"), so that `chexrt inspect` tells them from fallbacks; loading
// reads tactics of nodes with a step only.
std::vector<std::string> CudaEngine::profile_tactics(const Profile& profile) const {
  std::vector<std::string> tactics(graph_.num_nodes());
  for (int n = 0; n < graph_.num_nodes(); ++n) {
    tactics[n] = plan_.node_step[n] >= 0 ? profile.steps[plan_.node_step[n]]->name() : "(" + plan_.node_note[n] + ")";
  }
  return tactics;
}

std::vector<std::string> CudaEngine::node_tactics() const {
  std::vector<std::string> tactics(graph_.num_nodes());
  for (int n = 0; n < graph_.num_nodes(); ++n) {
    if (plan_.node_step[n] < 0) {
      tactics[n] = "(" + plan_.node_note[n] + ")";
      continue;
    }
    std::vector<std::pair<int64_t, std::string>> per_profile;
    for (auto p = profiles_.rbegin(); p != profiles_.rend(); ++p) {
      per_profile.emplace_back((*p)->batch, (*p)->steps[plan_.node_step[n]]->name());
    }
    tactics[n] = builder::join_profile_tactics(per_profile);
  }
  return tactics;
}

std::string CudaEngine::describe_layers() const {
  const std::vector<Step*>& steps = max_profile_->steps;
  std::ostringstream out;
  const char* precision = plan_.precision == Precision::kFp16 ? "fp16" : "fp32";
  char line[512];
  std::snprintf(line, sizeof(line), "profile batch %lld (kernels of batches above %lld):\n",
                static_cast<long long>(max_profile_->batch),
                static_cast<long long>(profiles_.size() > 1 ? profiles_[1]->batch : 0));
  out << line;
  for (const StepDesc& s : plan_.steps) {
    if (s.kind != StepKind::kInput) continue;
    std::snprintf(line, sizeof(line), "%-32s %-16s %s  %s\n", graph_.value(graph_.inputs()[s.io_index]).name.c_str(),
                  "(input)", steps[&s - plan_.steps.data()]->name().c_str(), precision);
    out << line;
  }
  for (int n = 0; n < graph_.num_nodes(); ++n) {
    const ir::Node& node = graph_.node(n);
    const std::string kernel =
        plan_.node_step[n] >= 0 ? steps[plan_.node_step[n]]->name() : "(" + plan_.node_note[n] + ")";
    std::snprintf(line, sizeof(line), "%-32s %-16s %s  %s\n", node.name.c_str(), ir::op_name(node.op), kernel.c_str(),
                  precision);
    out << line;
  }
  // The smaller profiles: the nodes whose kernel differs from the largest profile's.
  for (size_t p = 1; p < profiles_.size(); ++p) {
    const Profile& profile = *profiles_[p];
    const int64_t below = p + 1 < profiles_.size() ? profiles_[p + 1]->batch : 0;
    int differing = 0;
    std::ostringstream rows;
    for (int n = 0; n < graph_.num_nodes(); ++n) {
      if (plan_.node_step[n] < 0) continue;
      const std::string& kernel = profile.steps[plan_.node_step[n]]->name();
      if (kernel == steps[plan_.node_step[n]]->name()) continue;
      ++differing;
      std::snprintf(line, sizeof(line), "  %-30s %-16s %s\n", graph_.node(n).name.c_str(),
                    ir::op_name(graph_.node(n).op), kernel.c_str());
      rows << line;
    }
    std::snprintf(
        line, sizeof(line), "profile batch %lld (batches %lld..%lld): %d kernel(s) differ from batch %lld's%s\n",
        static_cast<long long>(profile.batch), static_cast<long long>(below + 1), static_cast<long long>(profile.batch),
        differing, static_cast<long long>(max_profile_->batch), differing ? ":" : "");
    out << line << rows.str();
  }
  std::snprintf(line, sizeof(line),
                "arena %.1f MB at batch %lld, scratch %.1f MB, workspace %.1f MB, on %s; %zu profile(s), all timed "
                "when the engine was built\n",
                plan_.arena_bytes / 1e6, static_cast<long long>(plan_.max_batch), max_profile_->scratch_bytes / 1e6,
                max_profile_->workspace_bytes / 1e6, device_name_.c_str(), profiles_.size());
  out << line;
  return out.str();
}

// --- benchmark -----------------------------------------------------------------------------

// An extra execution context for benchmarks, its host inputs filled with seeded normal values.
Result<std::unique_ptr<ExecutionContext>> CudaEngine::benchmark_context(const Profile& profile, int64_t batch,
                                                                        unsigned seed) {
  CHEXRT_ASSIGN_OR_RETURN(auto ctx, acquire(true, profile));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (size_t k = 0; k < inputs_.size(); ++k) {
    const int64_t n = batch * per_image_elements(inputs_[k]);
    for (int64_t j = 0; j < n; ++j) ctx->host_input(k)[j] = normal(rng);
  }
  return ctx;
}

// One batch as `split` equal sub-batches on as many contexts at once: the start event on the first
// stream, the others wait for it, each runs its sub-batch, and the first waits for all of them.
Result<BenchmarkResult> CudaEngine::benchmark_split(const BenchmarkOptions& options) {
  const int split = options.cuda.split;
  if (options.batch % split != 0) {
    return invalid_argument("batch " + std::to_string(options.batch) + " does not split into " + std::to_string(split) +
                            " equal sub-batches");
  }
  const int64_t sub = options.batch / split;
  CHEXRT_ASSIGN_OR_RETURN(const Profile* profile, prepare_batch(sub));
  std::vector<std::unique_ptr<ExecutionContext>> contexts;
  for (int i = 0; i < split; ++i) {
    CHEXRT_ASSIGN_OR_RETURN(auto ctx, benchmark_context(*profile, sub, 11 + i));
    CHEXRT_RETURN_IF_ERROR(ctx->enqueue_h2d(*this, sub));
    CHEXRT_RETURN_IF_ERROR(ctx->synchronize("benchmark input"));
    contexts.push_back(std::move(ctx));
  }
  EventPair total;
  std::vector<cudaEvent_t> done(split);
  for (auto& e : done) cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
  BenchmarkResult result;
  Status status;
  cudaStream_t first = contexts[0]->stream();
  for (int it = 0; it < options.warmup + options.iterations && status.ok(); ++it) {
    cudaEventRecord(total.start, first);
    for (int c = 0; c < split && status.ok(); ++c) {
      cudaStream_t s = contexts[c]->stream();
      if (c > 0) cudaStreamWaitEvent(s, total.start, 0);
      status = contexts[c]->enqueue_compute(*this, profile->steps, sub, options.cuda.use_graphs);
      cudaEventRecord(done[c], s);
    }
    for (int c = 1; c < split; ++c) cudaStreamWaitEvent(first, done[c], 0);
    cudaEventRecord(total.stop, first);
    if (status.ok()) status = contexts[0]->synchronize("benchmark iteration");
    if (status.ok() && it >= options.warmup) result.compute_ms.push_back(elapsed_ms(total.start, total.stop));
  }
  for (auto& e : done) cudaEventDestroy(e);
  CHEXRT_RETURN_IF_ERROR(status);
  result.latency_ms = result.compute_ms;
  const double m = median(result.compute_ms);
  result.throughput = m > 0 ? options.batch * 1000.0 / m : 0;
  result.notes = "batch " + std::to_string(options.batch) + " as " + std::to_string(split) +
                 " concurrent sub-batches of " + std::to_string(sub) + "; compute only (inputs on the GPU)";
  return result;
}

Result<BenchmarkResult> CudaEngine::benchmark(const BenchmarkOptions& options) {
  const int64_t batch = options.batch;
  if (batch < 1 || batch > max_batch()) {
    return invalid_argument("batch " + std::to_string(batch) + " is outside the engine's range 1.." +
                            std::to_string(max_batch()));
  }
  const DeviceScope scope(gpu_);
  CHEXRT_RETURN_IF_ERROR(scope.status());
  if (options.cuda.split > 1) return benchmark_split(options);
  CHEXRT_ASSIGN_OR_RETURN(const Profile* profile, prepare_batch(batch));
  const int streams = std::max(1, options.cuda.streams);
  const int iterations = std::max(1, options.iterations);
  std::vector<std::unique_ptr<ExecutionContext>> contexts;
  for (int i = 0; i < streams; ++i) {
    CHEXRT_ASSIGN_OR_RETURN(auto ctx, benchmark_context(*profile, batch, 11 + i));
    contexts.push_back(std::move(ctx));
  }
  struct Samples {
    std::vector<double> latency, compute, h2d, d2h;
    Status status;
  };
  std::vector<Samples> samples(streams);
  // One inference per iteration: events split it into input copy, compute and output copy.
  const auto run = [&](int c) {
    ExecutionContext& ctx = *contexts[c];
    Samples& out = samples[c];
    cudaEvent_t ev[4];
    for (auto& x : ev) cudaEventCreate(&x);
    for (int it = 0; it < options.warmup + iterations && out.status.ok(); ++it) {
      cudaEventRecord(ev[0], ctx.stream());
      out.status = ctx.enqueue_h2d(*this, batch);
      cudaEventRecord(ev[1], ctx.stream());
      if (out.status.ok()) out.status = ctx.enqueue_compute(*this, profile->steps, batch, options.cuda.use_graphs);
      cudaEventRecord(ev[2], ctx.stream());
      if (out.status.ok()) out.status = ctx.enqueue_d2h(*this, batch);
      cudaEventRecord(ev[3], ctx.stream());
      if (out.status.ok()) out.status = ctx.synchronize("benchmark iteration");
      if (!out.status.ok() || it < options.warmup) continue;
      out.h2d.push_back(elapsed_ms(ev[0], ev[1]));
      out.compute.push_back(elapsed_ms(ev[1], ev[2]));
      out.d2h.push_back(elapsed_ms(ev[2], ev[3]));
      out.latency.push_back(elapsed_ms(ev[0], ev[3]));
    }
    for (auto& x : ev) cudaEventDestroy(x);
  };
  const auto wall_start = std::chrono::steady_clock::now();
  if (streams == 1) {
    run(0);
  } else {
    std::vector<std::thread> threads;
    for (int c = 0; c < streams; ++c) threads.emplace_back(run, c);
    for (auto& t : threads) t.join();
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();

  BenchmarkResult result;
  Status status;
  std::vector<double> h2d, d2h;
  for (const Samples& s : samples) {
    if (!s.status.ok() && status.ok()) status = s.status;
    result.latency_ms.insert(result.latency_ms.end(), s.latency.begin(), s.latency.end());
    result.compute_ms.insert(result.compute_ms.end(), s.compute.begin(), s.compute.end());
    h2d.insert(h2d.end(), s.h2d.begin(), s.h2d.end());
    d2h.insert(d2h.end(), s.d2h.begin(), s.d2h.end());
  }
  result.h2d_ms = median(h2d);
  result.d2h_ms = median(d2h);
  if (streams == 1) {
    const double m = median(result.latency_ms);
    result.throughput = m > 0 ? batch * 1000.0 / m : 0;
  } else {
    // Warm-up included in the wall time: the concurrent rate is a lower bound.
    result.throughput = wall_s > 0 ? static_cast<double>(streams) * (options.warmup + iterations) * batch / wall_s : 0;
  }

  if (status.ok() && options.per_layer) {
    // Events between steps in a run without a graph; the median over repetitions per step.
    ExecutionContext& ctx = *contexts[0];
    const std::vector<Step*>& steps = profile->steps;
    std::vector<cudaEvent_t> events(steps.size() + 1);
    for (auto& ev : events) cudaEventCreate(&ev);
    std::vector<std::vector<double>> per_step(steps.size());
    const int reps = std::min(iterations, 20);
    for (int r = 0; r < reps + 1 && status.ok(); ++r) {
      status = ctx.enqueue_steps(*this, steps, batch, &events);
      if (status.ok()) status = ctx.synchronize("per-layer profile");
      if (r == 0) continue;  // warm-up (and graph-less first launch)
      for (size_t s = 0; s < steps.size(); ++s) per_step[s].push_back(elapsed_ms(events[s], events[s + 1]));
    }
    for (auto& ev : events) cudaEventDestroy(ev);
    for (size_t s = 0; s < steps.size() && status.ok(); ++s) {
      const StepDesc& d = plan_.steps[s];
      std::string name;
      if (d.kind == StepKind::kInput)
        name = "input " + inputs_[d.io_index].name;
      else if (d.kind == StepKind::kOutput)
        name = "output " + outputs_[d.io_index].name;
      else
        name = graph_.node(d.node).name;
      if (steps[s]->fused_away()) continue;  // timed with the previous step's kernel
      result.layers.push_back({name, steps[s]->name(), median(per_step[s])});
    }
  }
  for (auto& ctx : contexts) release(std::move(ctx));
  CHEXRT_RETURN_IF_ERROR(status);
  std::ostringstream notes;
  notes << "cuda on " << device_name_ << ", " << (plan_.precision == Precision::kFp16 ? "fp16" : "fp32")
        << ", CUDA graphs " << (options.cuda.use_graphs ? "on" : "off") << ", " << streams << " context(s), arena "
        << plan_.arena_bytes / (1 << 20) << " MiB, kernels timed at batch " << profile->batch;
  result.notes = notes.str();
  return result;
}

}  // namespace chexrt::cuda
