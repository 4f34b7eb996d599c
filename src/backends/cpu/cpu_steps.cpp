#include "backends/cpu/cpu_steps.h"

#include <algorithm>
#include <cstdlib>

namespace chexrt::cpu {

namespace {

constexpr int64_t kAlignment = 64;

int64_t align_up(int64_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Workspace

void Workspace::FreeDeleter::operator()(char* p) const { std::free(p); }

int Workspace::add_buffer(int64_t bytes) {
  buffers_.push_back({align_up(std::max<int64_t>(bytes, 1)), 0, -1, -1});
  return static_cast<int>(buffers_.size()) - 1;
}

void Workspace::use(int buffer, int step) {
  Buffer& b = buffers_[buffer];
  b.first_step = b.first_step < 0 ? step : std::min(b.first_step, step);
  b.last_step = std::max(b.last_step, step);
}

void Workspace::allocate() {
  // Largest first, each at the lowest offset that clears every already-placed buffer whose
  // lifetime overlaps its own (the greedy-by-size heuristic of TFLite's arena planner).
  std::vector<int> order(buffers_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return buffers_[a].bytes > buffers_[b].bytes; });
  std::vector<int> placed;
  arena_bytes_ = 0;
  for (int i : order) {
    Buffer& b = buffers_[i];
    std::vector<std::pair<int64_t, int64_t>> busy;  // [offset, end) of overlapping lifetimes
    for (int j : placed) {
      const Buffer& o = buffers_[j];
      if (o.first_step <= b.last_step && b.first_step <= o.last_step) busy.push_back({o.offset, o.offset + o.bytes});
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [start, end] : busy) {
      if (offset + b.bytes <= start) break;
      offset = std::max(offset, end);
    }
    b.offset = offset;
    arena_bytes_ = std::max(arena_bytes_, offset + b.bytes);
    placed.push_back(i);
  }
  arena_.reset(static_cast<char*>(std::aligned_alloc(kAlignment, static_cast<size_t>(std::max(arena_bytes_, kAlignment)))));
}

void Workspace::place(int value, const Dims& dims, int buffer, int64_t channel_offset, int64_t buffer_channels) {
  values_[value] = {dims, buffer, channel_offset, buffer_channels};
}

NhwcView Workspace::view(int value, int64_t batch) const {
  const Placement& p = values_.at(value);
  NhwcView v;
  v.storage = storage_;
  v.n = batch;
  v.c = p.dims[1];
  v.h = p.dims[2];
  v.w = p.dims[3];
  v.pixel_stride = p.buffer_channels;
  v.data = data(p.buffer) + p.channel_offset * static_cast<int64_t>(element_size());
  return v;
}

NhwcView Workspace::dense_view(int buffer, const Dims& dims, int64_t batch) const {
  NhwcView v;
  v.storage = storage_;
  v.n = batch;
  v.c = dims[1];
  v.h = dims[2];
  v.w = dims[3];
  v.pixel_stride = dims[1];
  v.data = data(buffer);
  return v;
}

NhwcView channel_slice(const NhwcView& view, int64_t c0, int64_t c) {
  NhwcView v = view;
  v.c = c;
  v.data = static_cast<char*>(view.data) + c0 * (view.storage == Storage::kF32 ? 4 : 2);
  return v;
}

std::string OwnedPreOp::name() const {
  if (!scale.empty()) return relu ? "affine_relu_" : "affine_";
  return relu ? "relu_" : "";
}

// ---------------------------------------------------------------------------------------------
// Convolution on oneDNN

namespace {

using dnnl::memory;

class ConvStep : public Step {
 public:
  ConvStep(const std::string& name, const dnnl::engine& engine, const ConvGeometry& g, HostTensor weight,
           HostTensor bias, bool relu, int src, int dst, int src_scratch, int dst_scratch)
      : Step(name),
        engine_(engine),
        g_(g),
        weight_(std::move(weight)),
        bias_(std::move(bias)),
        relu_(relu),
        src_(src),
        dst_(dst),
        src_scratch_(src_scratch),
        dst_scratch_(dst_scratch) {
    reads = {src};
    writes = {dst};
    if (src_scratch >= 0) scratch.push_back(src_scratch);
    if (dst_scratch >= 0) scratch.push_back(dst_scratch);
  }

  std::string kernel() const override {
    std::string k = std::string("conv2d_") + (bf16_ ? "bf16" : "f32") + "_nhwc" + (bias_.empty() ? "" : "_bias") +
                    (relu_ ? "_relu" : "") + "__onednn";
    if (!by_batch_.empty()) k += std::string(":") + by_batch_.rbegin()->second.pd.impl_info_str();
    return k;
  }

  Result<size_t> prepare(int64_t batch, const Workspace& ws) override {
    bf16_ = ws.storage() == Storage::kBf16;
    const memory::data_type dt = bf16_ ? memory::data_type::bf16 : memory::data_type::f32;
    const memory::dims src_dims{batch, g_.src[1], g_.src[2], g_.src[3]};
    const memory::dims dst_dims{batch, g_.dst[1], g_.dst[2], g_.dst[3]};
    const memory::desc src_md(src_dims, dt, memory::format_tag::nhwc);
    const memory::desc dst_md(dst_dims, dt, memory::format_tag::nhwc);
    const memory::desc weight_md({g_.dst[1], g_.src[1], g_.kernel_h, g_.kernel_w}, dt, memory::format_tag::any);
    const memory::desc bias_md = bias_.empty() ? memory::desc() : memory::desc({g_.dst[1]}, memory::data_type::f32,
                                                                                memory::format_tag::x);
    // oneDNN counts dilation from 0 (no dilation), ONNX from 1.
    const dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md, weight_md, bias_md, dst_md,
        {g_.stride_h, g_.stride_w}, {g_.dilation_h - 1, g_.dilation_w - 1}, {g_.pad_top, g_.pad_left},
        {g_.pad_bottom, g_.pad_right});
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (relu_) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(ops);
    }
    PerBatch pb;
    pb.pd = dnnl::convolution_forward::primitive_desc(desc, attr, engine_);
    pb.primitive = dnnl::convolution_forward(pb.pd);
    void* src_ptr = src_scratch_ >= 0 ? ws.data(src_scratch_) : ws.view(src_, batch).data;
    void* dst_ptr = dst_scratch_ >= 0 ? ws.data(dst_scratch_) : ws.view(dst_, batch).data;
    pb.args[DNNL_ARG_SRC] = memory(pb.pd.src_desc(), engine_, src_ptr);
    pb.args[DNNL_ARG_DST] = memory(pb.pd.dst_desc(), engine_, dst_ptr);
    pb.args[DNNL_ARG_WEIGHTS] = packed_weights(pb.pd.weights_desc());
    if (!bias_.empty()) {
      pb.args[DNNL_ARG_BIAS] = memory(pb.pd.bias_desc(), engine_, const_cast<void*>(bias_.raw()));
    }
    const size_t scratchpad = pb.pd.scratchpad_desc().get_size();
    by_batch_[batch] = std::move(pb);
    return scratchpad;
  }

  void bind_scratchpad(int64_t batch, void* scratchpad) override {
    PerBatch& pb = by_batch_.at(batch);
    pb.args[DNNL_ARG_SCRATCHPAD] = memory(pb.pd.scratchpad_desc(), engine_, scratchpad);
  }

  void run(int64_t batch, const Workspace& ws, dnnl::stream& stream) override {
    if (src_scratch_ >= 0) transform(ws.view(src_, batch), {}, ws.dense_view(src_scratch_, g_.src, batch));
    PerBatch& pb = by_batch_.at(batch);
    pb.primitive.execute(stream, pb.args);
    if (dst_scratch_ >= 0) transform(ws.dense_view(dst_scratch_, g_.dst, batch), {}, ws.view(dst_, batch));
  }

 private:
  struct PerBatch {
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward primitive;
    std::unordered_map<int, memory> args;
  };

  // The weights in the layout `md` asks for, reordered (and converted to bf16) once per layout.
  memory packed_weights(const memory::desc& md) {
    for (const auto& [desc, mem] : packed_) {
      if (desc == md) return mem;
    }
    memory plain(memory::desc({g_.dst[1], g_.src[1], g_.kernel_h, g_.kernel_w}, memory::data_type::f32,
                                    memory::format_tag::oihw),
                       engine_, const_cast<void*>(weight_.raw()));
    memory packed(md, engine_);
    dnnl::stream stream(engine_);
    dnnl::reorder(plain, packed).execute(stream, plain, packed);
    stream.wait();
    packed_.push_back({md, packed});
    return packed;
  }

  dnnl::engine engine_;
  ConvGeometry g_;
  HostTensor weight_, bias_;
  bool relu_;
  int src_, dst_, src_scratch_, dst_scratch_;
  bool bf16_ = false;
  std::map<int64_t, PerBatch> by_batch_;
  std::vector<std::pair<memory::desc, memory>> packed_;
};

// ---------------------------------------------------------------------------------------------
// Hand-written kernels

class TransformStep : public Step {
 public:
  TransformStep(const std::string& name, OwnedPreOp pre, int src, int dst) : Step(name), pre_(std::move(pre)) {
    reads = {src};
    writes = {dst};
  }
  std::string kernel() const override {
    return (pre_.empty() ? std::string("copy_nhwc") : "channel_" + pre_.name() + "nhwc") + "__cpu";
  }
  void run(int64_t batch, const Workspace& ws, dnnl::stream&) override {
    transform(ws.view(reads[0], batch), pre_.get(), ws.view(writes[0], batch));
  }

 private:
  OwnedPreOp pre_;
};

class PoolStep : public Step {
 public:
  PoolStep(const std::string& name, OwnedPreOp pre, const PoolWindow& window, int src, int dst)
      : Step(name), pre_(std::move(pre)), window_(window) {
    reads = {src};
    writes = {dst};
  }
  std::string kernel() const override {
    return std::string(window_.average ? "avgpool2d_" : "maxpool2d_") + pre_.name() + "nhwc__cpu";
  }
  void run(int64_t batch, const Workspace& ws, dnnl::stream&) override {
    pool2d(ws.view(reads[0], batch), pre_.get(), window_, ws.view(writes[0], batch));
  }

 private:
  OwnedPreOp pre_;
  PoolWindow window_;
};

class ConcatStep : public Step {
 public:
  ConcatStep(const std::string& name, std::vector<int> srcs, int dst) : Step(name) {
    reads = std::move(srcs);
    writes = {dst};
  }
  std::string kernel() const override { return "concat_copy_nhwc__cpu"; }
  void run(int64_t batch, const Workspace& ws, dnnl::stream&) override {
    const NhwcView out = ws.view(writes[0], batch);
    int64_t c0 = 0;
    for (int src : reads) {
      const NhwcView in = ws.view(src, batch);
      transform(in, {}, channel_slice(out, c0, in.c));
      c0 += in.c;
    }
  }
};

class HeadStep : public Step {
 public:
  HeadStep(const std::string& name, OwnedPreOp pre, HostTensor weight, HostTensor bias, bool sigmoid, int src,
           int dst, int pooled)
      : Step(name), pre_(std::move(pre)), weight_(std::move(weight)), bias_(std::move(bias)), sigmoid_(sigmoid),
        pooled_(pooled) {
    reads = {src};
    writes = {dst};
    scratch = {pooled};
  }
  std::string kernel() const override {
    return "classifier_head_" + pre_.name() + "gap_fc" + (sigmoid_ ? "_sigmoid" : "") + "__cpu";
  }
  void run(int64_t batch, const Workspace& ws, dnnl::stream&) override {
    classifier_head(ws.view(reads[0], batch), pre_.get(), weight_.data<float>(),
                    bias_.empty() ? nullptr : bias_.data<float>(), weight_.dims()[0], sigmoid_,
                    reinterpret_cast<float*>(ws.data(pooled_)), reinterpret_cast<float*>(ws.data(ws.buffer_of(writes[0]))));
  }

 private:
  OwnedPreOp pre_;
  HostTensor weight_, bias_;
  bool sigmoid_;
  int pooled_;
};

}  // namespace

std::unique_ptr<Step> make_conv_step(const std::string& name, const dnnl::engine& engine, const ConvGeometry& geometry,
                                     HostTensor weight, HostTensor bias, bool relu, int src, int dst, int src_scratch,
                                     int dst_scratch) {
  return std::make_unique<ConvStep>(name, engine, geometry, std::move(weight), std::move(bias), relu, src, dst,
                                    src_scratch, dst_scratch);
}

std::unique_ptr<Step> make_transform_step(const std::string& name, OwnedPreOp pre, int src, int dst) {
  return std::make_unique<TransformStep>(name, std::move(pre), src, dst);
}

std::unique_ptr<Step> make_pool_step(const std::string& name, OwnedPreOp pre, const PoolWindow& window, int src,
                                     int dst) {
  return std::make_unique<PoolStep>(name, std::move(pre), window, src, dst);
}

std::unique_ptr<Step> make_concat_step(const std::string& name, std::vector<int> srcs, int dst) {
  return std::make_unique<ConcatStep>(name, std::move(srcs), dst);
}

std::unique_ptr<Step> make_head_step(const std::string& name, OwnedPreOp pre, HostTensor weight, HostTensor bias,
                                     bool sigmoid, int src, int dst, int pooled_scratch) {
  return std::make_unique<HeadStep>(name, std::move(pre), std::move(weight), std::move(bias), sigmoid, src, dst,
                                    pooled_scratch);
}

}  // namespace chexrt::cpu
