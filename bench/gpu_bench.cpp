// gpu_bench: chexrt's CUDA engines on DenseNet-121 / CheXNet, timed with CUDA events.
//
// For each precision it builds one engine for the largest batch; each batch size then runs with
// kernels timed at that batch (the engine's optimization profiles, as `chexrt bench` does), and
// it reports latency (median, p90, p99; input copy +
// compute + output copy), compute alone, images per second, achieved TFLOP/s and the fraction of
// the card's copy bandwidth that the engine's compulsory activation traffic reaches. With
// --per-layer it times every kernel in a run without CUDA graphs.
//
//   gpu_bench [--model M.onnx] [--precision fp16,fp32] [--batches 1,32,256] [--iterations 100]
//             [--warmup 20] [--no-graphs] [--streams N] [--split N] [--per-layer] [--tactic-filter S]
//             [--json FILE] [--verbose]
//
// Without --model the network is DenseNet-121 built layer by layer with random weights
// (same shapes and kernels as the real model; the weights do not change the speed).
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/cuda/cuda_engine.h"
#include "chexrt/onnx_parser.h"
#include "densenet121_network.h"
#include "densenet_random.h"
#include "ir/shape_inference.h"
#include "passes/pass_manager.h"

namespace chexrt {
namespace {

struct Args {
  std::string model;
  std::vector<std::string> precisions = {"fp16", "fp32"};
  std::vector<int64_t> batches = {1, 32, 256};
  int iterations = 100;
  int warmup = 20;
  bool graphs = true;
  int streams = 1;
  int split = 1;
  bool per_layer = false;
  std::string tactic_filter;
  std::string json;
  bool verbose = false;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

bool parse_args(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (k == "--model")
      a->model = next();
    else if (k == "--precision")
      a->precisions = split(next());
    else if (k == "--batches") {
      a->batches.clear();
      for (const auto& b : split(next())) a->batches.push_back(std::stoll(b));
    } else if (k == "--iterations")
      a->iterations = std::stoi(next());
    else if (k == "--warmup")
      a->warmup = std::stoi(next());
    else if (k == "--no-graphs")
      a->graphs = false;
    else if (k == "--streams")
      a->streams = std::stoi(next());
    else if (k == "--split")
      a->split = std::stoi(next());
    else if (k == "--per-layer")
      a->per_layer = true;
    else if (k == "--tactic-filter")
      a->tactic_filter = next();
    else if (k == "--json")
      a->json = next();
    else if (k == "--verbose")
      a->verbose = true;
    else {
      std::fprintf(stderr, "gpu_bench: unknown argument '%s'\n", k.c_str());
      return false;
    }
  }
  return true;
}

Result<ir::Graph> load_graph(const std::string& model, int64_t batch) {
  NetworkDefinition net;
  if (model.empty()) {
    CHEXRT_ASSIGN_OR_RETURN(
        net, examples::build_densenet121_chexnet(
                 [](const std::string& key) { return gputest::densenet121_random_weight(key, 1); }, batch));
  } else {
    OnnxImportOptions options;
    options.batch_size = batch;
    CHEXRT_ASSIGN_OR_RETURN(net, parse_onnx_file(model, options));
  }
  ir::Graph graph = std::move(net.graph());
  CHEXRT_RETURN_IF_ERROR(passes::optimize(graph).status());
  return graph;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5))];
}

// Device-to-device copy rate, counting bytes read plus bytes written (the METHOD.md ceiling).
double copy_bandwidth_gbs() {
  const size_t bytes = size_t(1) << 30;
  void *a = nullptr, *b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
  cudaMemset(a, 1, bytes);
  cudaEvent_t s, e;
  cudaEventCreate(&s);
  cudaEventCreate(&e);
  cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
  std::vector<double> ms;
  for (int i = 0; i < 10; ++i) {
    cudaEventRecord(s);
    cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(e);
    cudaEventSynchronize(e);
    float t = 0;
    cudaEventElapsedTime(&t, s, e);
    ms.push_back(t);
  }
  cudaEventDestroy(s);
  cudaEventDestroy(e);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * bytes / (percentile(ms, 50) * 1e-3) / 1e9;
}

// Bytes each kernel must read and write at least (each activation it touches once), summed.
double compulsory_bytes(const cuda::CudaEngine& engine, int64_t batch) {
  const cuda::ExecutionPlan& plan = engine.plan();
  double bytes = 0;
  for (const cuda::StepDesc& s : plan.steps) {
    for (const auto* list : {&s.reads, &s.writes}) {
      for (int v : *list) {
        const cuda::ValueLayout& l = plan.values[v];
        bytes += static_cast<double>(batch) * l.h * l.w * l.c * plan.elem_size;
      }
    }
  }
  return bytes;
}

std::string family(const std::string& kernel) {
  const size_t impl = kernel.find("__");
  const size_t prec = kernel.find("_f");
  std::string op = kernel.substr(0, prec);
  std::string how = impl == std::string::npos ? "" : kernel.substr(impl + 2);
  const size_t cut = how.find('_');
  if (how.rfind("cudnn", 0) != 0 && cut != std::string::npos) how = how.substr(0, cut);
  return op + " " + how;
}

int run(const Args& a) {
  int device = 0;
  cudaDeviceProp prop{};
  cudaGetDevice(&device);
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    std::fprintf(stderr, "gpu_bench: no CUDA device\n");
    return 1;
  }
  const double copy_gbs = copy_bandwidth_gbs();
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  std::printf("# %s, %d SMs, device copy %.0f GB/s (read + write); CUDA runtime %d, cuDNN %zu, cuBLASLt %zu\n",
              prop.name, prop.multiProcessorCount, copy_gbs, runtime, cudnnGetVersion(), cublasLtGetVersion());
  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::string> table;
  for (const std::string& precision_name : a.precisions) {
    if (precision_name != "fp16" && precision_name != "fp32") {
      std::fprintf(stderr, "gpu_bench: precision '%s' is not fp16 or fp32\n", precision_name.c_str());
      return 1;
    }
    const Precision precision = precision_name == "fp16" ? Precision::kFp16 : Precision::kFp32;
    const int64_t max_batch = *std::max_element(a.batches.begin(), a.batches.end());
    auto graph = load_graph(a.model, max_batch);
    if (!graph.ok()) {
      std::fprintf(stderr, "gpu_bench: %s\n", graph.status().to_string().c_str());
      return 1;
    }
    double flops_per_image = 0;
    for (int n = 0; n < graph->num_nodes(); ++n) flops_per_image += static_cast<double>(ir::node_flops(*graph, n));
    flops_per_image /= static_cast<double>(max_batch);
    BuildOptions options;
    options.device = Device::kCuda;
    options.precision = precision;
    options.max_batch = max_batch;
    options.verbose = a.verbose;
    cuda::CudaBuildSettings settings = cuda::settings_from_environment();
    if (!a.tactic_filter.empty()) settings.tactic_filter = a.tactic_filter;
    auto engine = cuda::CudaEngine::build(*graph, options, settings);
    if (!engine.ok()) {
      std::fprintf(stderr, "gpu_bench: build: %s\n", engine.status().to_string().c_str());
      return 1;
    }
    for (int64_t batch : a.batches) {
      const double flops = flops_per_image * static_cast<double>(batch);
      BenchmarkOptions bo;
      bo.batch = batch;
      bo.iterations = a.iterations;
      bo.warmup = a.warmup;
      bo.cuda.use_graphs = a.graphs;
      bo.cuda.streams = a.streams;
      bo.cuda.split = a.split;
      bo.per_layer = a.per_layer;
      auto r = (*engine)->benchmark(bo);
      if (!r.ok()) {
        std::fprintf(stderr, "gpu_bench: %s\n", r.status().to_string().c_str());
        return 1;
      }
      const double compute = percentile(r->compute_ms, 50);
      const double latency = percentile(r->latency_ms, 50);
      const double tflops = flops / (compute * 1e-3) / 1e12;
      const double traffic = compulsory_bytes(**engine, batch);
      const double gbs = traffic / (compute * 1e-3) / 1e9;
      char line[512];
      std::snprintf(line, sizeof(line),
                    "chexrt %-5s batch %4lld: compute %8.3f ms (p90 %.3f) %9.0f img/s | end-to-end %8.3f ms p90 %.3f "
                    "p99 %.3f (h2d %.3f d2h %.3f) %9.0f img/s | %6.1f TFLOP/s, %5.0f GB/s = %4.1f%% of copy",
                    precision_name.c_str(), static_cast<long long>(batch), compute, percentile(r->compute_ms, 90),
                    batch * 1000.0 / compute, latency, percentile(r->latency_ms, 90), percentile(r->latency_ms, 99),
                    r->h2d_ms, r->d2h_ms, r->throughput, tflops, gbs, copy_gbs > 0 ? 100 * gbs / copy_gbs : 0);
      std::printf("%s\n", line);
      std::fflush(stdout);
      table.push_back(line);
      nlohmann::json row = {{"precision", precision_name},
                            {"batch", batch},
                            {"device", prop.name},
                            {"cuda_graphs", a.graphs},
                            {"streams", a.streams},
                            {"compute_median_ms", compute},
                            {"compute_p90_ms", percentile(r->compute_ms, 90)},
                            {"compute_p99_ms", percentile(r->compute_ms, 99)},
                            {"latency_median_ms", latency},
                            {"latency_p90_ms", percentile(r->latency_ms, 90)},
                            {"latency_p99_ms", percentile(r->latency_ms, 99)},
                            {"h2d_ms", r->h2d_ms},
                            {"d2h_ms", r->d2h_ms},
                            {"images_per_second_compute", batch * 1000.0 / compute},
                            {"images_per_second", r->throughput},
                            {"tflops", tflops},
                            {"activation_traffic_gb", traffic / 1e9},
                            {"traffic_gbs", gbs},
                            {"copy_gbs", copy_gbs},
                            {"notes", r->notes}};
      if (!r->layers.empty()) {
        std::map<std::string, std::pair<double, int>> families;
        double total = 0;
        nlohmann::json layers = nlohmann::json::array();
        for (const auto& l : r->layers) {
          total += l.ms;
          auto& f = families[family(l.kernel)];
          f.first += l.ms;
          f.second += 1;
          layers.push_back({{"name", l.name}, {"kernel", l.kernel}, {"ms", l.ms}});
        }
        std::printf("  per-layer (no graph) total %.3f ms over %zu kernels; by kernel family:\n", total,
                    r->layers.size());
        std::vector<std::pair<double, std::string>> sorted;
        for (const auto& [name, v] : families) sorted.push_back({v.first, name});
        std::sort(sorted.rbegin(), sorted.rend());
        for (const auto& [ms, name] : sorted) {
          std::printf("    %-48s %8.3f ms %5.1f%% (%d)\n", name.c_str(), ms, 100 * ms / total, families[name].second);
        }
        auto top = r->layers;
        std::sort(top.begin(), top.end(), [](const LayerTime& x, const LayerTime& y) { return x.ms > y.ms; });
        std::printf("  slowest layers:\n");
        for (size_t i = 0; i < top.size() && i < 12; ++i) {
          std::printf("    %-44s %-62s %7.4f ms\n", top[i].name.c_str(), top[i].kernel.c_str(), top[i].ms);
        }
        row["layers"] = layers;
      }
      rows.push_back(row);
    }
    if (a.verbose) std::printf("%s", (*engine)->describe_layers().c_str());
  }
  std::printf("\n# summary (%s)\n", prop.name);
  for (const auto& l : table) std::printf("%s\n", l.c_str());
  if (!a.json.empty()) {
    std::ofstream out(a.json);
    out << nlohmann::json{{"device", prop.name}, {"copy_gbs", copy_gbs}, {"rows", rows}}.dump(1) << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace chexrt

int main(int argc, char** argv) {
  chexrt::Args args;
  if (!chexrt::parse_args(argc, argv, &args)) return 2;
  return chexrt::run(args);
}
