// Heat maps drawn on the GPU (CudaEngine::draw_heatmaps: HeatmapRenderer and
// kernels/heatmap.cu) against the host path that `predict` used before and the CPU engines still
// use (app::render_sample_heatmap, tested in tests/app): the same bytes, for real X-rays (NIH
// grey, an RGB file, a large one scaled down as the pipeline keeps it), every region the
// preprocessing modes give, several classes and samples in one call, more requests than the
// renderer takes at once, a flat map, another opacity, and several threads at once. Equality is
// exact: both sides run core/heatmap_draw.h's functions without fused multiply-adds and sum the
// channels in the same order, so there is no rounding difference to allow for.
//
// The X-rays are read from $CHEXRT_TEST_DATA_DIR (scripts/gpu_check.sh sets it to the
// repository's data/), else from this source tree's data/.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>

#include "app/findings.h"
#include "app/heatmap.h"
#include "app/image_io.h"
#include "app/preprocess.h"
#include "backends/cuda/cuda_engine.h"
#include "gpu_test_util.h"

namespace chexrt::cuda {
namespace {

std::string data_file(const std::string& relative) {
  const char* dir = std::getenv("CHEXRT_TEST_DATA_DIR");
  return std::string(dir ? dir : CHEXRT_SOURCE_DATA_DIR) + "/" + relative;
}

// The X-ray as the pipeline keeps it for heat maps (scaled to at most `max_side`), with the crop
// region of `options`.
app::HeatmapBase xray(const std::string& relative, const PreprocessOptions& options, int max_side) {
  const std::string path = data_file(relative);
  Result<std::vector<uint8_t>> bytes = app::read_file_bytes(path);
  Result<Image8> image = bytes.ok() ? app::decode_image8(bytes->data(), bytes->size(), path) : bytes.status();
  if (!image.ok()) throw std::runtime_error(image.status().to_string());  // fails the test, naming the file
  return app::heatmap_base(*image, options, max_side);
}

// A [n, 1024, 7, 7] feature map after a ReLU and a [14, 1024] classifier, seeded.
struct Cam {
  HostTensor features{DataType::kFloat32, {3, 1024, 7, 7}};
  HostTensor weights{DataType::kFloat32, {app::kNumFindings, 1024}};
  explicit Cam(uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int64_t i = 0; i < features.numel(); ++i) features.data<float>()[i] = std::max(0.0f, normal(rng));
    for (int64_t i = 0; i < weights.numel(); ++i) weights.data<float>()[i] = 0.05f * normal(rng);
  }
};

struct Case {
  app::HeatmapBase base;
  int64_t sample = 0;
  int class_index = 0;
};

std::vector<Case> cases() {
  PreprocessOptions crop, exact, tencrop;
  exact.mode = ResizeMode::kResizeExact;
  tencrop.mode = ResizeMode::kTenCrop;
  tencrop.resize_size = 224 + 37;
  std::vector<Case> out;
  int k = 0;
  for (const char* file : {"cxr/nih/00000284_000.png", "cxr/nih/00017921_000.png", "cxr/nih/00008980_000.png",
                           "cxr/formats/00014995_000_rgba.png", "cxr/formats/00012082_000_512.png"}) {
    for (const PreprocessOptions* options : {&crop, &exact, &tencrop}) {
      out.push_back({xray(file, *options, 1024), k % 3, k % app::kNumFindings});
      ++k;
    }
  }
  // Scaled down as `predict --heatmap-size 300` keeps it; not square, so x and y differ.
  out.push_back({xray("cxr/formats/00023104_000_2000x1800.png", crop, 300), 2, 13});
  out.push_back({xray("cxr/formats/00023104_000_2000x1800.png", tencrop, 1024), 1, 6});
  return out;
}

std::vector<HeatmapRequest> requests_for(const std::vector<Case>& cs, std::vector<Image8>& outs) {
  outs.clear();
  std::vector<HeatmapRequest> requests;
  for (const Case& c : cs) {
    outs.push_back({c.base.image.width, c.base.image.height, 3,
                    std::vector<uint8_t>(static_cast<size_t>(c.base.image.width) * c.base.image.height * 3, 0x5a)});
  }
  for (size_t k = 0; k < cs.size(); ++k) {
    HeatmapRequest r;
    r.image = view_of(cs[k].base.image);
    r.x0 = cs[k].base.crop_region.x0, r.y0 = cs[k].base.crop_region.y0;
    r.x1 = cs[k].base.crop_region.x1, r.y1 = cs[k].base.crop_region.y1;
    r.sample = cs[k].sample;
    r.class_index = cs[k].class_index;
    r.out = outs[k].pixels.data();
    requests.push_back(r);
  }
  return requests;
}

// The host's heat map of case `c`, through the app's own path.
Image8 host_heatmap(const Cam& cam, const Case& c, float max_alpha) {
  HostTensor one(DataType::kFloat32, {1024, 7, 7});
  std::memcpy(one.raw(), cam.features.data<float>() + c.sample * one.numel(), one.nbytes());
  const app::ActivationMap map = app::class_activation_map(one, cam.weights, c.class_index).value();
  return app::render_heatmap(c.base.image, map, c.base.crop_region, app::HeatmapOptions{max_alpha}).value();
}

void expect_same(const Image8& gpu, const Image8& host, const std::string& what) {
  ASSERT_EQ(gpu.pixels.size(), host.pixels.size()) << what;
  size_t mismatches = 0, first = 0;
  for (size_t i = 0; i < gpu.pixels.size(); ++i) {
    if (gpu.pixels[i] != host.pixels[i] && mismatches++ == 0) first = i;
  }
  EXPECT_EQ(mismatches, 0u) << what << ": first at byte " << first << " (pixel " << first / 3 % gpu.width << ", "
                            << first / 3 / gpu.width << "): GPU " << int(gpu.pixels[first]) << ", host "
                            << int(host.pixels[first]);
}

// A CUDA engine to draw heat maps with: its own network does not enter the maps.
Result<std::unique_ptr<CudaEngine>> small_engine() {
  const NetworkDefinition net = gputest::small_image_classifier(2);
  CHEXRT_RETURN_IF_ERROR(net.status());
  return CudaEngine::build(net.graph(), gputest::cuda_options(Precision::kFp32, 2), {});
}

TEST(GpuHeatmaps, EqualTheHostsOnRealXraysByteForByte) {
  CHEXRT_SKIP_WITHOUT_GPU();
  auto engine = small_engine();
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  ASSERT_TRUE((*engine)->draws_heatmaps_on_device());
  const Cam cam(21);
  const std::vector<Case> cs = cases();
  ASSERT_GT(cs.size(), 16u) << "more requests than the renderer takes at once";
  for (float max_alpha : {kDefaultHeatmapAlpha, 1.0f, kDefaultHeatmapAlpha}) {
    std::vector<Image8> outs;
    const Status s = (*engine)->draw_heatmaps(cam.features, cam.weights, requests_for(cs, outs), max_alpha);
    ASSERT_TRUE(s.ok()) << s.to_string();
    for (size_t k = 0; k < cs.size(); ++k) {
      expect_same(outs[k], host_heatmap(cam, cs[k], max_alpha),
                  "case " + std::to_string(k) + ", opacity " + std::to_string(max_alpha));
    }
  }
}

TEST(GpuHeatmaps, AFlatMapLeavesTheXrayGrey) {
  CHEXRT_SKIP_WITHOUT_GPU();
  auto engine = small_engine();
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  Cam cam(22);
  for (int64_t i = 0; i < 1024 * 49; ++i) cam.features.data<float>()[i] = 0.0f;  // sample 0: all zero
  const Case c{xray("cxr/nih/00000284_000.png", PreprocessOptions{}, 1024), 0, 4};
  std::vector<Image8> outs;
  ASSERT_TRUE((*engine)->draw_heatmaps(cam.features, cam.weights, requests_for({c}, outs)).ok());
  expect_same(outs[0], host_heatmap(cam, c, kDefaultHeatmapAlpha), "flat map");
  for (size_t i = 0; i < c.base.image.pixels.size(); ++i) {
    ASSERT_EQ(outs[0].pixels[3 * i], c.base.image.pixels[i]) << "pixel " << i;
  }
}

// The pipeline's pool calls draw_heatmaps from every thread at once, beside inference.
TEST(GpuHeatmaps, ThreadsAtOnceEachGetTheirOwn) {
  CHEXRT_SKIP_WITHOUT_GPU();
  auto engine = small_engine();
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  const Cam cam(23);
  const std::vector<Case> cs = cases();
  std::vector<std::vector<Image8>> outs(cs.size());
  std::vector<Status> status(cs.size());
  std::vector<std::thread> threads;
  for (size_t k = 0; k < cs.size(); ++k) {
    threads.emplace_back([&, k] {
      for (int round = 0; round < 3 && status[k].ok(); ++round) {
        status[k] = (*engine)->draw_heatmaps(cam.features, cam.weights, requests_for({cs[k]}, outs[k]));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t k = 0; k < cs.size(); ++k) {
    ASSERT_TRUE(status[k].ok()) << status[k].to_string();
    expect_same(outs[k][0], host_heatmap(cam, cs[k], kDefaultHeatmapAlpha), "thread " + std::to_string(k));
  }
}

TEST(GpuHeatmaps, BadRequestsAreRefusedAsOnTheHost) {
  CHEXRT_SKIP_WITHOUT_GPU();
  auto engine = small_engine();
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  const Cam cam(24);
  const Case c{xray("cxr/formats/00012082_000_512.png", PreprocessOptions{}, 1024), 0, 0};
  std::vector<Image8> outs;
  auto refused = [&](auto change) {
    std::vector<HeatmapRequest> requests = requests_for({c}, outs);
    HostTensor features = cam.features, weights = cam.weights;
    float alpha = kDefaultHeatmapAlpha;
    change(requests[0], features, weights, alpha);
    const Status gpu = (*engine)->draw_heatmaps(features, weights, requests, alpha);
    const Status host = (*engine)->Engine::draw_heatmaps(features, weights, requests, alpha);
    EXPECT_EQ(gpu.code(), StatusCode::kInvalidArgument) << gpu.to_string();
    EXPECT_EQ(gpu.message(), host.message());
  };
  refused([](HeatmapRequest& r, HostTensor&, HostTensor&, float&) { r.sample = 3; });
  refused([](HeatmapRequest& r, HostTensor&, HostTensor&, float&) { r.class_index = app::kNumFindings; });
  refused([](HeatmapRequest& r, HostTensor&, HostTensor&, float&) { r.x1 = r.x0; });
  refused([](HeatmapRequest& r, HostTensor&, HostTensor&, float&) { r.image.channels = 2; });
  refused([](HeatmapRequest& r, HostTensor&, HostTensor&, float&) { r.out = nullptr; });
  refused([](HeatmapRequest&, HostTensor& f, HostTensor&, float&) { f = HostTensor(DataType::kFloat32, {3, 1024}); });
  refused([](HeatmapRequest&, HostTensor&, HostTensor& w, float&) { w = HostTensor(DataType::kFloat32, {14, 512}); });
  refused([](HeatmapRequest&, HostTensor&, HostTensor&, float& alpha) { alpha = 1.5f; });
}

}  // namespace
}  // namespace chexrt::cuda
