// PNG encoding on the GPU (PngEncoder, kernels/png_encode.cu) against its CPU reference
// (png_encode::encode_png, tested in tests/app/png_encode_test.cpp): the same bytes, byte for
// byte, and files that decode to the pixels given, for odd sizes, grey and RGB, flat images,
// noise (stored blocks, several in one segment), many images in one call; and heat maps asked
// for as PNGs from CudaEngine::draw_heatmaps, alone and beside requests for pixels, equal to the
// host engine's.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <stdexcept>

#include "app/findings.h"
#include "app/heatmap.h"
#include "app/image_io.h"
#include "app/preprocess.h"
#include "backends/cuda/cuda_engine.h"
#include "backends/cuda/png_encoder.h"
#include "core/png_encode.h"
#include "gpu_test_util.h"

namespace chexrt::cuda {
namespace {

struct TestImage {
  std::string what;
  int width, height, channels;
  std::vector<uint8_t> pixels;
};

std::vector<TestImage> test_images() {
  std::mt19937 rng(9);
  std::vector<TestImage> out;
  auto add = [&](const std::string& kind, int w, int h, int c) {
    TestImage im{kind + " " + std::to_string(w) + "x" + std::to_string(h) + "x" + std::to_string(c), w, h, c,
                 std::vector<uint8_t>(static_cast<size_t>(w) * h * c)};
    for (size_t i = 0; i < im.pixels.size(); ++i) {
      const size_t x = i / c % w, y = i / c / w;
      if (kind == "noise") im.pixels[i] = static_cast<uint8_t>(rng());
      if (kind == "flat") im.pixels[i] = 77;
      if (kind == "gradient") {
        im.pixels[i] = static_cast<uint8_t>(x / 3 + y / 5 + 40 * (i % c) + (rng() % 9 == 0 ? rng() % 7 : 0));
      }
    }
    out.push_back(std::move(im));
  };
  for (int c : {1, 3}) {
    for (auto [w, h] : {std::pair{1, 1}, {3, 7}, {1023, 5}, {5, 1023}, {17, 33}, {1024, 1024}})
      add("gradient", w, h, c);
    add("flat", 301, 40, c);
    add("noise", 33, 9, c);
  }
  // 16 rows of 1500 RGB pixels: more than one stored block in a segment.
  add("noise", 1500, 20, 3);
  return out;
}

// The images uploaded one after another (at 16-byte offsets, as the heat-map renderer keeps
// them), encoded in one call.
std::vector<std::vector<uint8_t>> encode_on_gpu(const std::vector<TestImage>& images) {
  std::vector<PngEncoder::Image> jobs;
  std::vector<std::vector<uint8_t>> pngs(images.size());
  std::vector<uint8_t> host;
  for (size_t k = 0; k < images.size(); ++k) {
    host.resize((host.size() + 15) & ~size_t{15});
    jobs.push_back(
        {static_cast<long long>(host.size()), images[k].width, images[k].height, images[k].channels, &pngs[k]});
    host.insert(host.end(), images[k].pixels.begin(), images[k].pixels.end());
  }
  DeviceBuffer device;
  if (!device.upload(host.data(), host.size(), "test images").ok()) throw std::runtime_error("upload failed");
  cudaStream_t stream = nullptr;
  cudaEvent_t done = nullptr;
  if (cudaStreamCreate(&stream) != cudaSuccess || cudaEventCreate(&done) != cudaSuccess) {
    throw std::runtime_error("cannot create a stream");
  }
  PngEncoder encoder;
  const Status s = encoder.encode(device.as<uint8_t>(), jobs, stream, done);
  cudaEventDestroy(done);
  cudaStreamDestroy(stream);
  if (!s.ok()) throw std::runtime_error(s.to_string());
  return pngs;
}

void expect_same_bytes(const std::vector<uint8_t>& gpu, const std::vector<uint8_t>& host, const std::string& what) {
  size_t first = 0;
  while (first < gpu.size() && first < host.size() && gpu[first] == host[first]) ++first;
  EXPECT_TRUE(gpu == host) << what << ": " << gpu.size() << " bytes from the GPU, " << host.size()
                           << " from the host; first difference at byte " << first;
}

TEST(GpuPngEncode, EqualsTheCpuReferenceByteForByte) {
  CHEXRT_SKIP_WITHOUT_GPU();
  const std::vector<TestImage> images = test_images();
  // Twice: the second call reuses the grown buffers.
  for (int round = 0; round < 2; ++round) {
    const std::vector<std::vector<uint8_t>> pngs = encode_on_gpu(images);
    for (size_t k = 0; k < images.size(); ++k) {
      const TestImage& im = images[k];
      Result<std::vector<uint8_t>> host = png_encode::encode_png(im.pixels.data(), im.width, im.height, im.channels);
      ASSERT_TRUE(host.ok()) << host.status().to_string();
      expect_same_bytes(pngs[k], *host, im.what);
      Result<Image8> decoded = app::decode_image8(pngs[k].data(), pngs[k].size(), im.what);
      ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
      EXPECT_EQ(decoded->channels, im.channels) << im.what;
      EXPECT_TRUE(decoded->pixels == im.pixels) << im.what;
    }
  }
  // One image alone.
  const std::vector<TestImage> one(images.begin() + 2, images.begin() + 3);
  expect_same_bytes(encode_on_gpu(one)[0],
                    png_encode::encode_png(one[0].pixels.data(), one[0].width, one[0].height, one[0].channels).value(),
                    one[0].what + " alone");
}

std::string data_file(const std::string& relative) {
  const char* dir = std::getenv("CHEXRT_TEST_DATA_DIR");
  return std::string(dir ? dir : CHEXRT_SOURCE_DATA_DIR) + "/" + relative;
}

// A CUDA engine to draw heat maps with: its own network does not enter the maps.
Result<std::unique_ptr<CudaEngine>> small_engine() {
  const NetworkDefinition net = gputest::small_image_classifier(2);
  CHEXRT_RETURN_IF_ERROR(net.status());
  return CudaEngine::build(net.graph(), gputest::cuda_options(Precision::kFp32, 2), {});
}

// Heat maps of real X-rays asked for as PNGs, more than the renderer takes at once, every other
// one as pixels instead: the PNGs are the host engine's bytes, the pixels its pixels.
TEST(GpuPngEncode, HeatMapsAsPngsEqualTheHostEngines) {
  CHEXRT_SKIP_WITHOUT_GPU();
  auto engine = small_engine();
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  HostTensor features(DataType::kFloat32, {3, 1024, 7, 7});
  HostTensor weights(DataType::kFloat32, {app::kNumFindings, 1024});
  std::mt19937 rng(31);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t i = 0; i < features.numel(); ++i) features.data<float>()[i] = std::max(0.0f, normal(rng));
  for (int64_t i = 0; i < weights.numel(); ++i) weights.data<float>()[i] = 0.05f * normal(rng);

  std::vector<app::HeatmapBase> bases;
  for (const char* file : {"cxr/nih/00000284_000.png", "cxr/formats/00014995_000_rgba.png",
                           "cxr/formats/00012082_000_512.png", "cxr/formats/00023104_000_2000x1800.png"}) {
    const std::string path = data_file(file);
    Result<std::vector<uint8_t>> bytes = app::read_file_bytes(path);
    ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
    Result<Image8> image = app::decode_image8(bytes->data(), bytes->size(), path);
    ASSERT_TRUE(image.ok()) << image.status().to_string();
    bases.push_back(app::heatmap_base(*image, PreprocessOptions{}, 1024));
    bases.push_back(app::heatmap_base(*image, PreprocessOptions{}, 300));
  }
  std::vector<HeatmapRequest> requests;
  std::vector<std::vector<uint8_t>> gpu_png(20), host_png(20), gpu_rgb(20), host_rgb(20);
  for (size_t k = 0; k < gpu_png.size(); ++k) {
    const app::HeatmapBase& base = bases[k % bases.size()];
    HeatmapRequest r;
    r.image = view_of(base.image);
    r.x0 = base.crop_region.x0, r.y0 = base.crop_region.y0;
    r.x1 = base.crop_region.x1, r.y1 = base.crop_region.y1;
    r.sample = static_cast<int64_t>(k % 3);
    r.class_index = static_cast<int>(k % app::kNumFindings);
    if (k % 2 == 0) {
      r.png = &gpu_png[k];
    } else {
      gpu_rgb[k].assign(static_cast<size_t>(base.image.width) * base.image.height * 3, 0x5a);
      r.out = gpu_rgb[k].data();
    }
    requests.push_back(r);
  }
  std::vector<HeatmapRequest> on_host = requests;
  for (size_t k = 0; k < on_host.size(); ++k) {
    if (on_host[k].png) {
      on_host[k].png = &host_png[k];
    } else {
      host_rgb[k].resize(gpu_rgb[k].size());
      on_host[k].out = host_rgb[k].data();
    }
  }
  ASSERT_GT(requests.size(), 16u) << "more requests than the renderer takes at once";
  const Status gpu = (*engine)->draw_heatmaps(features, weights, requests);
  ASSERT_TRUE(gpu.ok()) << gpu.to_string();
  const Status host = (*engine)->Engine::draw_heatmaps(features, weights, on_host);
  ASSERT_TRUE(host.ok()) << host.to_string();
  for (size_t k = 0; k < requests.size(); ++k) {
    const std::string what = "request " + std::to_string(k);
    if (k % 2 == 1) {
      EXPECT_TRUE(gpu_rgb[k] == host_rgb[k]) << what;
      continue;
    }
    expect_same_bytes(gpu_png[k], host_png[k], what);
    Result<Image8> decoded = app::decode_image8(gpu_png[k].data(), gpu_png[k].size(), what);
    ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
    const app::HeatmapBase& base = bases[k % bases.size()];
    Result<Image8> drawn = app::render_sample_heatmap(features, requests[k].sample, weights, requests[k].class_index,
                                                      base.image, base.crop_region);
    ASSERT_TRUE(drawn.ok());
    EXPECT_TRUE(decoded->pixels == drawn->pixels) << what;
  }
}

}  // namespace
}  // namespace chexrt::cuda
