// conv_layouts: oneDNN's convolutions on DenseNet-121's bottleneck shapes in each layout and
// precision the CPU backend could use, timed alone (hot caches): the measurement behind its
// layout choices (docs/PERF.md, "CPU"). Prints one line per (precision, layout, batch, shape) with
// the implementation oneDNN picked, ms per image and GFLOP/s.
//
//   conv_layouts [--threads 2] [--iterations 30]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <oneapi/dnnl/dnnl.hpp>

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

struct Shape {
  int64_t cin, cout, hw, k;
};

// The first and last 1x1 bottleneck of each block, and the block's 3x3 growth conv.
const Shape kShapes[] = {{64, 128, 56, 1},  {224, 128, 56, 1}, {128, 32, 56, 3},  {128, 128, 28, 1},
                         {480, 128, 28, 1}, {128, 32, 28, 3},  {256, 128, 14, 1}, {992, 128, 14, 1},
                         {128, 32, 14, 3},  {512, 128, 7, 1},  {992, 128, 7, 1},  {128, 32, 7, 3}};

struct Variant {
  const char* name;
  memory::data_type dt;
  Tag tag;
  dnnl::algorithm algorithm;
};

const Variant kVariants[] = {
    {"f32 nhwc direct", memory::data_type::f32, Tag::nhwc, dnnl::algorithm::convolution_direct},
    {"f32 nChw16c direct", memory::data_type::f32, Tag::nChw16c, dnnl::algorithm::convolution_direct},
    {"f32 nChw16c winograd", memory::data_type::f32, Tag::nChw16c, dnnl::algorithm::convolution_winograd},
    {"bf16 nhwc direct", memory::data_type::bf16, Tag::nhwc, dnnl::algorithm::convolution_direct},
    {"bf16 nChw16c direct", memory::data_type::bf16, Tag::nChw16c, dnnl::algorithm::convolution_direct},
};

// Zero-filled: uninitialized memory may hold denormals, whose slow paths time something else.
memory zeroed(const memory::desc& md, const dnnl::engine& engine) {
  memory m(md, engine);
  std::memset(m.get_data_handle(), 0, md.get_size());
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"oneDNN convolution layouts on DenseNet-121's shapes"};
  int threads = 2, iterations = 30;
  app.add_option("--threads", threads, "OpenMP threads");
  app.add_option("--iterations", iterations, "timed runs per case (median)");
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(threads);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  // The first primitive a process runs is slow for a while (thread pool start-up, first touch
  // of memory): run something unrelated first.
  {
    const memory::desc md({8, 64, 56, 56}, memory::data_type::f32, Tag::nhwc);
    const memory a = zeroed(md, engine), b = zeroed(md, engine);
    const dnnl::eltwise_forward relu(dnnl::eltwise_forward::primitive_desc(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_relu, md, 0.f),
        engine));
    for (int i = 0; i < 200; ++i) relu.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_DST, b}});
    stream.wait();
  }
  std::printf("%-22s %5s %-18s %-36s %10s %8s\n", "variant", "batch", "shape", "oneDNN implementation", "ms/image",
              "GFLOP/s");
  for (const Variant& v : kVariants) {
    for (const int64_t batch : {1, 8}) {
      for (const Shape& s : kShapes) {
        if (v.algorithm == dnnl::algorithm::convolution_winograd && s.k != 3) continue;
        const memory::desc src({batch, s.cin, s.hw, s.hw}, v.dt, v.tag), dst({batch, s.cout, s.hw, s.hw}, v.dt, v.tag);
        const memory::desc weights({s.cout, s.cin, s.k, s.k}, v.dt, Tag::any);
        const std::string shape = std::to_string(s.cin) + "->" + std::to_string(s.cout) + " " + std::to_string(s.k) +
                                  "x" + std::to_string(s.k) + " @" + std::to_string(s.hw);
        dnnl::convolution_forward::primitive_desc pd;
        try {
          pd = dnnl::convolution_forward::primitive_desc(
              dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, v.algorithm, src, weights, dst,
                                              {1, 1}, {s.k / 2, s.k / 2}, {s.k / 2, s.k / 2}),
              engine);
        } catch (const dnnl::error&) {
          std::printf("%-22s %5lld %-18s %-36s\n", v.name, static_cast<long long>(batch), shape.c_str(), "(none)");
          continue;
        }
        const dnnl::convolution_forward conv(pd);
        std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, zeroed(pd.src_desc(), engine)},
                                                {DNNL_ARG_WEIGHTS, zeroed(pd.weights_desc(), engine)},
                                                {DNNL_ARG_DST, zeroed(pd.dst_desc(), engine)}};
        for (int i = 0; i < 3; ++i) conv.execute(stream, args);
        std::vector<double> ms;
        for (int i = 0; i < iterations; ++i) {
          const auto start = std::chrono::steady_clock::now();
          conv.execute(stream, args);
          stream.wait();
          ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        }
        std::sort(ms.begin(), ms.end());
        const double per_image = ms[ms.size() / 2] / static_cast<double>(batch);
        const double gflop = 2.0 * s.cin * s.cout * s.k * s.k * s.hw * s.hw / 1e9;
        std::printf("%-22s %5lld %-18s %-36s %10.4f %8.0f\n", v.name, static_cast<long long>(batch), shape.c_str(),
                    pd.impl_info_str(), per_image, gflop / per_image * 1e3);
      }
    }
  }
  return 0;
}
