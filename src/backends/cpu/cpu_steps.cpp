#include "backends/cpu/cpu_steps.h"

#include "backends/cpu/cpu_engine.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>

namespace chexrt::cpu {

// Counts every oneDNN primitive created, for primitives_created() (cpu_engine.h).
std::atomic<int64_t> primitives_made{0};
int64_t primitives_created() { return primitives_made.load(); }

namespace {

using dnnl::memory;

constexpr int64_t kAlignment = 64;

int64_t align_up(int64_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Workspace

void AlignedBuffer::FreeDeleter::operator()(char* p) const { std::free(p); }

AlignedBuffer::AlignedBuffer(size_t bytes)
    : data_(static_cast<char*>(std::aligned_alloc(
          kAlignment, static_cast<size_t>(align_up(std::max<int64_t>(static_cast<int64_t>(bytes), kAlignment)))))) {
  // As operator new does: a null arena would be written through later.
  if (data_ == nullptr) throw std::bad_alloc();
}

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
  arena_ = AlignedBuffer(static_cast<size_t>(arena_bytes_));
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

void* Workspace::data_of(int value) const {
  const Placement& p = values_.at(value);
  return data(p.buffer) + p.channel_offset * static_cast<int64_t>(element_size());
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

memory::data_type data_type(Storage storage) {
  return storage == Storage::kBf16 ? memory::data_type::bf16 : memory::data_type::f32;
}

memory::desc activation_md(int64_t batch, const Dims& nchw, Storage storage, bool blocked) {
  return memory::desc({batch, nchw[1], nchw[2], nchw[3]}, data_type(storage),
                      blocked ? memory::format_tag::nChw16c : memory::format_tag::nhwc);
}

dnnl::convolution_forward::primitive_desc make_conv_pd(const dnnl::engine& engine, const ConvGeometry& g, int64_t batch,
                                                       Storage storage, bool has_bias, bool relu, bool blocked,
                                                       bool winograd) {
  const memory::desc weight_md({g.dst[1], g.src[1], g.kernel_h, g.kernel_w}, data_type(storage),
                               memory::format_tag::any);
  const memory::desc bias_md =
      has_bias ? memory::desc({g.dst[1]}, memory::data_type::f32, memory::format_tag::x) : memory::desc();
  // oneDNN counts dilation from 0 (no dilation), ONNX from 1.
  const dnnl::convolution_forward::desc desc(
      dnnl::prop_kind::forward_inference,
      winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct,
      activation_md(batch, g.src, storage, blocked), weight_md, bias_md, activation_md(batch, g.dst, storage, blocked),
      {g.stride_h, g.stride_w}, {g.dilation_h - 1, g.dilation_w - 1}, {g.pad_top, g.pad_left},
      {g.pad_bottom, g.pad_right});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  return dnnl::convolution_forward::primitive_desc(desc, attr, engine);
}

// The weights in the layout `md` asks for, reordered (and converted to bf16) from OIHW float32.
memory pack_weights(const dnnl::engine& engine, const HostTensor& weight, const memory::desc& md) {
  const Dims& d = weight.dims();
  memory plain(memory::desc({d[0], d[1], d[2], d[3]}, memory::data_type::f32, memory::format_tag::oihw), engine,
               const_cast<void*>(weight.raw()));
  memory packed(md, engine);
  dnnl::stream stream(engine);
  dnnl::reorder(plain, packed).execute(stream, plain, packed);
  stream.wait();
  return packed;
}

class ConvStep : public Step {
 public:
  ConvStep(const std::string& name, const dnnl::engine& engine, const ConvSpec& spec)
      : Step(name), engine_(engine), spec_(spec) {
    reads = {spec.src};
    writes = {spec.dst};
    if (spec.src_scratch >= 0) scratch.push_back(spec.src_scratch);
    if (spec.dst_scratch >= 0) scratch.push_back(spec.dst_scratch);
  }

  std::string kernel() const override {
    std::string k = std::string("conv2d_") + (bf16_ ? "bf16" : "f32") + (spec_.blocked ? "_nchw16c" : "_nhwc") +
                    (spec_.bias.empty() ? "" : "_bias") + (spec_.relu ? "_relu" : "") + "__onednn";
    if (!by_batch_.empty()) k += std::string(":") + by_batch_.rbegin()->second.pd.impl_info_str();
    return k;
  }

  Result<size_t> prepare(int64_t batch, const Workspace& ws) override {
    bf16_ = ws.storage() == Storage::kBf16;
    PerBatch pb;
    pb.pd = make_conv_pd(engine_, spec_.geometry, batch, ws.storage(), !spec_.bias.empty(), spec_.relu, spec_.blocked,
                         spec_.winograd);
    pb.primitive = dnnl::convolution_forward(pb.pd);
    primitives_made.fetch_add(1, std::memory_order_relaxed);
    void* src = spec_.src_scratch >= 0 ? ws.data(spec_.src_scratch) : ws.data_of(spec_.src);
    void* dst = spec_.dst_scratch >= 0 ? ws.data(spec_.dst_scratch) : ws.data_of(spec_.dst);
    pb.args = {{DNNL_ARG_SRC, memory(pb.pd.src_desc(), engine_, src)},
               {DNNL_ARG_DST, memory(pb.pd.dst_desc(), engine_, dst)},
               {DNNL_ARG_WEIGHTS, packed_weights(pb.pd.weights_desc())}};
    if (!spec_.bias.empty()) {
      pb.args[DNNL_ARG_BIAS] = memory(pb.pd.bias_desc(), engine_, const_cast<void*>(spec_.bias.raw()));
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
    const ConvGeometry& g = spec_.geometry;
    if (spec_.src_scratch >= 0)
      transform(ws.view(spec_.src, batch), {}, ws.dense_view(spec_.src_scratch, g.src, batch));
    PerBatch& pb = by_batch_.at(batch);
    pb.primitive.execute(stream, pb.args);
    if (spec_.dst_scratch < 0) return;
    if (spec_.blocked) {
      blocked16_to_nhwc(reinterpret_cast<const float*>(ws.data(spec_.dst_scratch)), ws.view(spec_.dst, batch));
    } else {
      transform(ws.dense_view(spec_.dst_scratch, g.dst, batch), {}, ws.view(spec_.dst, batch));
    }
  }

 private:
  struct PerBatch {
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward primitive;
    std::unordered_map<int, memory> args;
  };

  // Reordered once per layout oneDNN asks for (which may differ between batch sizes).
  memory packed_weights(const memory::desc& md) {
    for (const auto& [desc, mem] : packed_) {
      if (desc == md) return mem;
    }
    packed_.push_back({md, pack_weights(engine_, spec_.weight, md)});
    return packed_.back().second;
  }

  dnnl::engine engine_;
  ConvSpec spec_;
  bool bf16_ = false;
  std::map<int64_t, PerBatch> by_batch_;
  std::vector<std::pair<memory::desc, memory>> packed_;
};

// ---------------------------------------------------------------------------------------------
// Hand-written kernels

class TransformStep : public Step {
 public:
  TransformStep(const std::string& name, OwnedPreOp pre, int src, int dst, bool dst_blocked)
      : Step(name), pre_(std::move(pre)), dst_blocked_(dst_blocked) {
    reads = {src};
    writes = {dst};
  }
  std::string kernel() const override {
    return (pre_.empty() ? std::string("copy_nhwc") : "channel_" + pre_.name() + "nhwc") +
           (dst_blocked_ ? "_to_nchw16c" : "") + "__cpu";
  }
  void run(int64_t batch, const Workspace& ws, dnnl::stream&) override {
    if (dst_blocked_) {
      transform_to_blocked16(ws.view(reads[0], batch), pre_.get(), static_cast<float*>(ws.data_of(writes[0])));
    } else {
      transform(ws.view(reads[0], batch), pre_.get(), ws.view(writes[0], batch));
    }
  }

 private:
  OwnedPreOp pre_;
  bool dst_blocked_;
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
  HeadStep(const std::string& name, OwnedPreOp pre, HostTensor weight, HostTensor bias, bool sigmoid, int src, int dst,
           int pooled)
      : Step(name),
        pre_(std::move(pre)),
        weight_(std::move(weight)),
        bias_(std::move(bias)),
        sigmoid_(sigmoid),
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
                    reinterpret_cast<float*>(ws.data(pooled_)),
                    reinterpret_cast<float*>(ws.data(ws.buffer_of(writes[0]))));
  }

 private:
  OwnedPreOp pre_;
  HostTensor weight_, bias_;
  bool sigmoid_;
  int pooled_;
};

}  // namespace

std::unique_ptr<Step> make_conv_step(const std::string& name, const dnnl::engine& engine, const ConvSpec& spec) {
  return std::make_unique<ConvStep>(name, engine, spec);
}

std::unique_ptr<Step> make_transform_step(const std::string& name, OwnedPreOp pre, int src, int dst, bool dst_blocked) {
  return std::make_unique<TransformStep>(name, std::move(pre), src, dst, dst_blocked);
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
