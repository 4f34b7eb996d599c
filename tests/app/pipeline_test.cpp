// The streaming pipeline against the batch-at-a-time path it replaces: the same findings, in
// input order, whatever fails where, with bounded look-ahead.
#include "app/pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>

#include <sys/stat.h>
#include <unistd.h>

#include "app/findings.h"
#include "app/image_batch.h"
#include "test_support.h"

namespace chexrt::app {
namespace {

using testing::png_with_filter_bytes;
using testing::read_bytes;
using testing::TempDir;
using testing::test_data;
using testing::write_bytes;

// An engine whose finding k for a sample is the mean of the sample's values plus k / 100, and
// whose second output is a [N, 2, 7, 7] feature map (for heat maps). It counts its calls. With
// `on_device` it stands for a GPU engine: it asks for 8-bit images (infer_images), which it
// preprocesses the default way; with `unfilters` also for PNG rows, which it unfilters the default
// way (on the host) and counts; with `decodes_jpeg` for JPEG files undecoded too, which it decodes
// the default way (on the host) and counts; with `draws_on_device` it draws the heat maps
// (draw_heatmaps), the default way too.
class FakeEngine : public Engine {
 public:
  explicit FakeEngine(int64_t max_batch, int crop = 224) : max_batch_(max_batch) {
    inputs_ = {{"image", DataType::kFloat32, {max_batch, 3, crop, crop}}};
    outputs_ = {{"probabilities", DataType::kFloat32, {max_batch, kNumFindings}},
                {"cam_features", DataType::kFloat32, {max_batch, 2, 7, 7}}};
  }
  std::string backend_name() const override { return "fake"; }
  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }
  int64_t max_batch() const override { return max_batch_; }
  std::string describe_layers() const override { return ""; }
  bool preprocesses_on_device() const override { return on_device; }
  bool unfilters_png_on_device() const override { return unfilters; }
  bool draws_heatmaps_on_device() const override { return draws_on_device; }
  bool decodes_jpeg_on_device() const override { return decodes_jpeg; }
  Status draw_heatmaps(const HostTensor& features, const HostTensor& weights,
                       const std::vector<HeatmapRequest>& requests, float max_alpha) override {
    heatmap_calls += 1;
    return Engine::draw_heatmaps(features, weights, requests, max_alpha);
  }
  Status infer_images(const std::vector<ImageView>& images, const PreprocessOptions& options,
                      std::vector<HostTensor>* out) override {
    ++image_calls;
    jpeg_views += static_cast<int>(std::count_if(images.begin(), images.end(), is_jpeg));
    for (const ImageView& image : images) png_row_images += image.encoding == PixelEncoding::kPngFiltered;
    return Engine::infer_images(images, options, out);
  }
  Status infer(const std::vector<HostTensor>& in, std::vector<HostTensor>* out) override {
    ++calls;
    const int64_t n = in[0].dims()[0];
    if (n > max_batch_) return invalid_argument("batch too large");
    if (fail_call == calls) return runtime_error("the fake engine failed on purpose");
    const int64_t per = in[0].numel() / n;
    HostTensor probs(DataType::kFloat32, {n, kNumFindings});
    HostTensor features(DataType::kFloat32, {n, 2, 7, 7});
    for (int64_t i = 0; i < n; ++i) {
      double sum = 0;
      for (int64_t j = 0; j < per; ++j) sum += in[0].data<float>()[i * per + j];
      for (int k = 0; k < kNumFindings; ++k) probs.data<float>()[i * kNumFindings + k] = float(sum / per + k / 100.0);
      for (int j = 0; j < 2 * 49; ++j) features.data<float>()[i * 98 + j] = float(j % 7);
    }
    *out = {probs, features};
    return Status::ok_status();
  }
  std::atomic<int> calls{0};
  std::atomic<int> image_calls{0};
  std::atomic<int> png_row_images{0};
  std::atomic<int> heatmap_calls{0};
  std::atomic<int> jpeg_views{0};
  int fail_call = -1;
  bool on_device = false;
  bool unfilters = false;
  bool decodes_jpeg = false;
  bool draws_on_device = false;

 private:
  int64_t max_batch_;
  std::vector<TensorInfo> inputs_, outputs_;
};

std::vector<FileResult> run(const std::vector<std::string>& files, Engine& engine, const PipelineOptions& options) {
  std::vector<FileResult> results;
  Result<PipelineStats> stats = run_pipeline(files, engine, options, [&](FileResult&& r) {
    results.push_back(std::move(r));
    return Status::ok_status();
  });
  EXPECT_TRUE(stats.ok()) << stats.status().to_string();
  if (stats.ok()) {
    EXPECT_EQ(stats->files, files.size());
  }
  return results;
}

// The findings the batch-at-a-time path gives: load_image_batch, one engine call, the mean
// over each image's samples.
std::vector<std::vector<float>> batch_path(const std::vector<std::string>& files, Engine& engine,
                                           const PreprocessOptions& preprocess) {
  LoadOptions load;
  load.preprocess = preprocess;
  ImageBatch batch = load_image_batch(files, load).value();
  std::vector<HostTensor> out;
  EXPECT_TRUE(engine.infer({batch.input}, &out).ok());
  std::vector<std::vector<float>> findings;
  for (const BatchItem& item : batch.items) {
    std::vector<float> p(kNumFindings, 0.f);
    for (int s = 0; s < batch.samples_per_image; ++s) {
      for (int k = 0; k < kNumFindings; ++k) {
        p[k] += out[0].data<float>()[(item.first_sample + s) * kNumFindings + k] / batch.samples_per_image;
      }
    }
    findings.push_back(p);
  }
  return findings;
}

std::vector<std::string> bundled_images() {
  std::vector<std::string> files;
  for (const char* f :
       {"cxr/nih/00000284_000.png", "cxr/formats/00017921_000_16bit.png", "cxr/formats/00014995_000_rgba.png",
        "cxr/formats/00008980_000_q90.jpg", "cxr/formats/00012082_000_512.png",
        "cxr/dicom/siim_pneumothorax_sample_jpeg_baseline.dcm", "cxr/dicom/siim_sample_monochrome1.dcm"}) {
    files.push_back(test_data(f));
  }
  return files;
}

// How decoders hand files to the engine: preprocessed tensors, 8-bit images, (for the PNGs the
// libdeflate path takes) filtered PNG rows, which the engine unfilters, or those and JPEG files,
// which it decodes, in the same batches as the other files' pixels.
enum class Handover { kTensors, kImages, kPngRows, kPngRowsAndJpegs };

const char* handover_name(Handover h) {
  return h == Handover::kTensors   ? "preprocessed by the decoders"
         : h == Handover::kImages  ? "8-bit images to the engine"
         : h == Handover::kPngRows ? "PNG rows to the engine"
                                   : "PNG rows and JPEG files to the engine";
}

TEST(Pipeline, FindingsEqualTheBatchPathInEveryModeAndFormat) {
  const std::vector<std::string> files = bundled_images();
  auto count_ending = [&](const std::string& ending) {
    return static_cast<int>(std::count_if(files.begin(), files.end(), [&](const std::string& f) {
      return f.size() > ending.size() && f.compare(f.size() - ending.size(), ending.size(), ending) == 0;
    }));
  };
  const int pngs = count_ending(".png");
  const int jpegs = count_ending(".jpg");
  ASSERT_GT(jpegs, 0);
  for (ResizeMode mode : {ResizeMode::kResizeCenterCrop, ResizeMode::kResizeExact, ResizeMode::kTenCrop})
    for (Handover handover : {Handover::kTensors, Handover::kImages, Handover::kPngRows, Handover::kPngRowsAndJpegs}) {
      SCOPED_TRACE(handover_name(handover));
      PipelineOptions options;
      options.preprocess.mode = mode;
      options.images_per_batch = 3;  // batches of 3, 3 and 1
      options.decode_threads = 3;
      const int samples = samples_per_image(options.preprocess);
      FakeEngine engine(3 * samples);
      engine.on_device = handover != Handover::kTensors;
      engine.unfilters = handover == Handover::kPngRows || handover == Handover::kPngRowsAndJpegs;
      engine.decodes_jpeg = handover == Handover::kPngRowsAndJpegs;
      FakeEngine whole(static_cast<int64_t>(files.size()) * samples);
      const std::vector<std::vector<float>> want = batch_path(files, whole, options.preprocess);
      std::vector<FileResult> got;
      Result<PipelineStats> stats = run_pipeline(files, engine, options, [&](FileResult&& r) {
        got.push_back(std::move(r));
        return Status::ok_status();
      });
      ASSERT_TRUE(stats.ok()) << stats.status().to_string();
      ASSERT_EQ(got.size(), files.size());
      for (size_t i = 0; i < files.size(); ++i) {
        EXPECT_EQ(got[i].index, i);
        EXPECT_EQ(got[i].path, files[i]);
        ASSERT_TRUE(got[i].status.ok()) << got[i].status.to_string();
        for (int k = 0; k < kNumFindings; ++k) EXPECT_NEAR(got[i].probabilities[k], want[i][k], 1e-6) << files[i];
      }
      EXPECT_EQ(engine.calls.load(), 3);
      EXPECT_EQ(engine.image_calls.load(), handover == Handover::kTensors ? 0 : 3);
      // Every bundled PNG is one the libdeflate path takes: 8-bit and 16-bit grey, RGBA.
      const int rows_expected = engine.unfilters ? pngs : 0;
      EXPECT_EQ(engine.png_row_images.load(), rows_expected);
      EXPECT_EQ(stats->png_rows_files, static_cast<size_t>(rows_expected));
      EXPECT_EQ(stats->png_unfiltered_on_device, engine.unfilters);
      EXPECT_EQ(engine.jpeg_views.load(), engine.decodes_jpeg ? jpegs : 0);
      EXPECT_EQ(stats->jpeg_on_device, engine.decodes_jpeg);
    }
}

// run() that also gives the stats.
std::vector<FileResult> run(const std::vector<std::string>& files, Engine& engine, const PipelineOptions& options,
                            PipelineStats* stats) {
  std::vector<FileResult> results;
  Result<PipelineStats> got = run_pipeline(files, engine, options, [&](FileResult&& r) {
    results.push_back(std::move(r));
    return Status::ok_status();
  });
  EXPECT_TRUE(got.ok()) << got.status().to_string();
  if (got.ok()) *stats = *got;
  return results;
}

// With an engine that decodes JPEGs on its device, the decoders hand it JPEG files undecoded
// and the findings are those of the pixels decoded by the decoders; not when told to decode JPEGs
// on the host, nor with heat maps (they need the pixels on the host).
TEST(Pipeline, JpegFilesHandedUndecodedGiveTheFindingsOfTheirPixels) {
  TempDir dir;
  const std::vector<uint8_t> rgba = read_bytes(test_data("cxr/formats/00014995_000_rgba.png"));
  const Image8 rgb = decode_image8(rgba.data(), rgba.size(), "rgba").value();
  write_bytes(dir.file("rgb.jpg"), encode_jpeg(rgb.pixels.data(), rgb.width, rgb.height, rgb.channels, 95).value());
  std::vector<std::string> files = bundled_images();
  files.push_back(dir.file("rgb.jpg"));
  const int jpegs = 2;
  for (ResizeMode mode : {ResizeMode::kResizeCenterCrop, ResizeMode::kTenCrop}) {
    PipelineOptions options;
    options.preprocess.mode = mode;
    options.images_per_batch = 3;
    options.decode_threads = 3;
    const int samples = samples_per_image(options.preprocess);
    FakeEngine pixels_engine(3 * samples), jpeg_engine(3 * samples);
    pixels_engine.on_device = jpeg_engine.on_device = true;
    jpeg_engine.decodes_jpeg = true;
    PipelineStats pixel_stats, jpeg_stats;
    const std::vector<FileResult> want = run(files, pixels_engine, options, &pixel_stats);
    const std::vector<FileResult> got = run(files, jpeg_engine, options, &jpeg_stats);
    EXPECT_FALSE(pixel_stats.jpeg_on_device);
    EXPECT_EQ(pixels_engine.jpeg_views.load(), 0);
    EXPECT_TRUE(jpeg_stats.jpeg_on_device);
    EXPECT_EQ(jpeg_engine.jpeg_views.load(), jpegs);
    EXPECT_EQ(jpeg_stats.jpeg_host_retries, 0u);
    ASSERT_EQ(got.size(), files.size());
    ASSERT_EQ(want.size(), files.size());
    for (size_t i = 0; i < files.size(); ++i) {
      ASSERT_TRUE(got[i].status.ok()) << got[i].status.to_string();
      EXPECT_EQ(got[i].probabilities, want[i].probabilities) << files[i];
    }

    FakeEngine told_host(3 * samples);
    told_host.on_device = true;
    told_host.decodes_jpeg = true;
    options.jpeg_on_device = false;
    PipelineStats host_stats;
    EXPECT_EQ(run(files, told_host, options, &host_stats).size(), files.size());
    EXPECT_FALSE(host_stats.jpeg_on_device);
    EXPECT_EQ(told_host.jpeg_views.load(), 0);
  }

  TempDir maps;
  PipelineOptions options;
  options.images_per_batch = 2;
  options.heatmap_dir = maps.path();
  options.heatmap_weights = HostTensor(DataType::kFloat32, {kNumFindings, 2});
  FakeEngine engine(2);
  engine.on_device = true;
  engine.decodes_jpeg = true;
  PipelineStats stats;
  EXPECT_EQ(run(files, engine, options, &stats).size(), files.size());
  EXPECT_FALSE(stats.jpeg_on_device);
  EXPECT_EQ(engine.jpeg_views.load(), 0);
}

// A JPEG whose data ends early passes the header check and fails the engine's batch: the pipeline
// decodes that batch's JPEGs on the host and runs it again, so that the bad file fails alone,
// named, and the rest of its batch get the findings they get without it.
TEST(Pipeline, ACorruptJpegHandedToTheEngineFailsAloneAndNamed) {
  TempDir dir;
  const std::vector<uint8_t> jpeg = read_bytes(test_data("cxr/formats/00008980_000_q90.jpg"));
  write_bytes(dir.file("truncated.jpg"), jpeg.data(), jpeg.size() / 2);
  std::vector<std::string> files;
  for (int i = 0; i < 4; ++i) {
    files.push_back(dir.file("good" + std::to_string(i) + ".jpg"));
    write_bytes(files.back(), jpeg);
  }
  files.insert(files.begin() + 1, dir.file("truncated.jpg"));
  files.insert(files.begin() + 3, test_data("cxr/nih/00000284_000.png"));
  PipelineOptions options;
  options.images_per_batch = 4;  // the truncated file's batch: 2 good JPEGs and a PNG beside it
  options.decode_threads = 2;
  FakeEngine engine(4);
  engine.on_device = true;
  engine.decodes_jpeg = true;
  PipelineStats stats;
  const std::vector<FileResult> got = run(files, engine, options, &stats);
  ASSERT_EQ(got.size(), files.size());
  EXPECT_EQ(stats.jpeg_host_retries, 1u);
  const std::vector<float> good_findings = got[0].probabilities;
  for (size_t i = 0; i < files.size(); ++i) {
    if (files[i] == dir.file("truncated.jpg")) {
      EXPECT_EQ(got[i].status.code(), StatusCode::kParseError);
      EXPECT_NE(got[i].status.message().find(files[i] + ": JPEG: "), std::string::npos) << got[i].status.message();
      continue;
    }
    ASSERT_TRUE(got[i].status.ok()) << files[i] << ": " << got[i].status.to_string();
    if (files[i].find("good") != std::string::npos) {
      EXPECT_EQ(got[i].probabilities, good_findings) << files[i];
    }
  }
}

// A PNG with an unknown filter type fails as it does when the host decodes it in full (libpng's
// verdict and message), whoever would have unfiltered it; so does every other bad file.
TEST(Pipeline, PngRowsAreRefusedExactlyAsTheFullDecodeRefusesThem) {
  TempDir dir;
  write_bytes(dir.file("bad_filter.png"), png_with_filter_bytes(9, {0, 4, 3, 8, 1}));
  write_bytes(dir.file("good_filters.png"), png_with_filter_bytes(9, {0, 4, 3, 2, 1}));
  std::vector<uint8_t> truncated = read_bytes(test_data("cxr/formats/00012082_000_512.png"));
  truncated.resize(truncated.size() / 2);
  write_bytes(dir.file("truncated.png"), truncated);
  const std::vector<std::string> files = {dir.file("bad_filter.png"), dir.file("good_filters.png"),
                                          dir.file("truncated.png"), test_data("cxr/nih/00000284_000.png")};
  std::vector<std::vector<FileResult>> runs;
  for (Handover handover : {Handover::kImages, Handover::kPngRows}) {
    SCOPED_TRACE(handover_name(handover));
    PipelineOptions options;
    options.images_per_batch = 2;
    options.decode_threads = 2;
    FakeEngine engine(2);
    engine.on_device = true;
    engine.unfilters = handover == Handover::kPngRows;
    runs.push_back(run(files, engine, options));
    ASSERT_EQ(runs.back().size(), files.size());
    EXPECT_EQ(engine.png_row_images.load(), handover == Handover::kPngRows ? 2 : 0);
  }
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(runs[0][i].status.to_string(), runs[1][i].status.to_string()) << files[i];
    EXPECT_EQ(runs[0][i].status.ok(), i % 2 == 1) << files[i] << ": " << runs[0][i].status.to_string();
    EXPECT_TRUE(runs[0][i].probabilities == runs[1][i].probabilities) << files[i];
  }
}

TEST(Pipeline, FailuresAtTheStartMiddleAndEndKeepOrderAndTheRest) {
  TempDir dir;
  write_bytes(dir.file("garbage.png"), std::vector<uint8_t>(300, 0x42));
  write_bytes(dir.file("truncated.png"), std::vector<uint8_t>(5000, 0));
  const std::vector<uint8_t> png = read_bytes(test_data("cxr/formats/00012082_000_512.png"));
  std::vector<std::string> files = {dir.file("garbage.png")};
  for (int i = 0; i < 9; ++i) {
    files.push_back(dir.file("good" + std::to_string(i) + ".png"));
    write_bytes(files.back(), png);
  }
  files.insert(files.begin() + 5, dir.file("missing.png"));  // never existed
  files.push_back(dir.file("truncated.png"));
  // A file listed, then gone before it is read: as when it disappears during a run.
  write_bytes(dir.file("vanishing.png"), png);
  files.insert(files.begin() + 7, dir.file("vanishing.png"));
  std::filesystem::remove(dir.file("vanishing.png"));

  for (bool on_device : {false, true}) {
    SCOPED_TRACE(on_device ? "8-bit images to the engine" : "preprocessed by the decoders");
    PipelineOptions options;
    options.images_per_batch = 4;
    options.decode_threads = 2;
    FakeEngine engine(4);
    engine.on_device = on_device;
    const std::vector<FileResult> got = run(files, engine, options);
    ASSERT_EQ(got.size(), files.size());
    size_t failed = 0;
    for (size_t i = 0; i < files.size(); ++i) {
      EXPECT_EQ(got[i].path, files[i]);
      const bool bad = files[i].find("good") == std::string::npos;
      EXPECT_EQ(got[i].status.ok(), !bad) << files[i] << ": " << got[i].status.to_string();
      if (bad) {
        ++failed;
        EXPECT_NE(got[i].status.message().find(files[i]), std::string::npos) << got[i].status.message();
      } else {
        EXPECT_NEAR(got[i].probabilities[1] - got[i].probabilities[0], 0.01, 1e-6);
      }
    }
    EXPECT_EQ(failed, 4u);
  }
}

TEST(Pipeline, AnEngineFailureFailsItsBatchAlone) {
  std::vector<std::string> files;
  for (int i = 0; i < 3; ++i) {
    for (const std::string& f : bundled_images()) files.push_back(f);
  }
  PipelineOptions options;
  options.images_per_batch = 5;
  FakeEngine engine(5);
  engine.fail_call = 2;
  const std::vector<FileResult> got = run(files, engine, options);
  ASSERT_EQ(got.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    const bool in_failed_batch = i >= 5 && i < 10;
    EXPECT_EQ(got[i].status.ok(), !in_failed_batch) << i;
    if (in_failed_batch) {
      EXPECT_NE(got[i].status.message().find("on purpose"), std::string::npos);
    }
  }
}

TEST(Pipeline, HeatMapsAreWrittenAndAnUnwritableFolderLosesNoFindings) {
  TempDir dir;
  PipelineOptions options;
  options.images_per_batch = 2;
  options.heatmap_dir = dir.file("maps");
  options.heatmap_weights = HostTensor(DataType::kFloat32, {kNumFindings, 2});
  for (int64_t i = 0; i < options.heatmap_weights.numel(); ++i) options.heatmap_weights.data<float>()[i] = 1.f;
  options.heatmap_max_side = 300;
  std::filesystem::create_directories(options.heatmap_dir);
  const std::vector<std::string> files = bundled_images();
  FakeEngine engine(2);
  std::vector<FileResult> got = run(files, engine, options);
  ASSERT_EQ(got.size(), files.size());
  for (const FileResult& r : got) {
    ASSERT_TRUE(r.status.ok() && r.heatmap_status.ok()) << r.heatmap_status.to_string();
    ASSERT_FALSE(r.heatmap.empty());
    Result<Image> map = read_image(r.heatmap);
    ASSERT_TRUE(map.ok()) << map.status().to_string();
    EXPECT_EQ(std::max(map->width, map->height), 300) << r.heatmap;
  }

  // A folder that cannot be written: every heat map fails, named; every finding still comes.
  if (::geteuid() == 0) {
    options.heatmap_dir = dir.file("not_a_folder");  // root writes anywhere: use a file instead
    write_bytes(options.heatmap_dir, std::vector<uint8_t>(1, 0));
  } else {
    options.heatmap_dir = dir.file("read_only");
    std::filesystem::create_directories(options.heatmap_dir);
    ::chmod(options.heatmap_dir.c_str(), 0555);
  }
  got = run(files, engine, options);
  ASSERT_EQ(got.size(), files.size());
  for (const FileResult& r : got) {
    EXPECT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.probabilities.size(), static_cast<size_t>(kNumFindings));
    EXPECT_FALSE(r.heatmap_status.ok());
    EXPECT_TRUE(r.heatmap.empty());
    EXPECT_NE(r.heatmap_status.message().find(options.heatmap_dir), std::string::npos) << r.heatmap_status.message();
  }
}

// An engine that draws heat maps (a GPU engine) is given them to draw, from the pool, and the
// files written hold the pixels of the host path: JPEGs byte for byte; PNGs, which the engine
// encodes (core/png_encode.h, as the GPU does) where the host uses igzip, decode to the same
// pixels (tests/gpu checks the GPU's drawing and encoding).
TEST(Pipeline, HeatMapsDrawnByTheEngineAreThoseOfTheHost) {
  TempDir dir;
  PipelineOptions options;
  options.images_per_batch = 3;
  options.heatmap_weights = HostTensor(DataType::kFloat32, {kNumFindings, 2});
  for (int64_t i = 0; i < options.heatmap_weights.numel(); ++i) {
    options.heatmap_weights.data<float>()[i] = static_cast<float>(i % 3) - 0.5f;
  }
  const std::vector<std::string> files = bundled_images();
  auto written = [&](const std::string& folder, FakeEngine& engine, PipelineStats* stats) {
    options.heatmap_dir = dir.file(folder);
    std::filesystem::create_directories(options.heatmap_dir);
    std::vector<std::vector<uint8_t>> maps;
    Result<PipelineStats> run = run_pipeline(files, engine, options, [&](FileResult&& r) {
      EXPECT_TRUE(r.heatmap_status.ok()) << r.heatmap_status.to_string();
      maps.push_back(read_bytes(r.heatmap));
      return Status::ok_status();
    });
    EXPECT_TRUE(run.ok()) << run.status().to_string();
    if (run.ok()) *stats = *run;
    return maps;
  };
  for (ImageFormat format : {ImageFormat::kPng, ImageFormat::kJpeg}) {
    options.heatmap_format = format;
    FakeEngine host_engine(3), device_engine(3);
    // Heat maps need the pixels on the host: PNGs are decoded in full even for an engine that
    // would unfilter them.
    device_engine.on_device = device_engine.unfilters = device_engine.draws_on_device = true;
    PipelineStats host_stats, device_stats;
    const auto on_host = written("host" + std::to_string(static_cast<int>(format)), host_engine, &host_stats);
    const auto on_device = written("device" + std::to_string(static_cast<int>(format)), device_engine, &device_stats);
    ASSERT_EQ(on_host.size(), files.size());
    ASSERT_EQ(on_device.size(), files.size());
    if (format == ImageFormat::kJpeg) {
      EXPECT_TRUE(on_host == on_device);
    } else {
      for (size_t k = 0; k < files.size(); ++k) {
        Result<Image8> host = decode_image8(on_host[k].data(), on_host[k].size(), "host heat map");
        Result<Image8> device = decode_image8(on_device[k].data(), on_device[k].size(), "device heat map");
        ASSERT_TRUE(host.ok() && device.ok());
        EXPECT_TRUE(host->pixels == device->pixels) << files[k];
        EXPECT_FALSE(on_host[k] == on_device[k]) << "the engine's PNG encoder should have written " << files[k];
      }
    }
    EXPECT_EQ(host_engine.heatmap_calls, 0);
    EXPECT_EQ(device_engine.heatmap_calls, static_cast<int>(files.size()));
    EXPECT_FALSE(host_stats.heatmaps_on_device);
    EXPECT_TRUE(device_stats.heatmaps_on_device);
    EXPECT_EQ(device_engine.png_row_images.load(), 0);
    EXPECT_FALSE(device_stats.png_unfiltered_on_device);
    EXPECT_GT(device_stats.heatmap_draw_s, 0.0);
    EXPECT_GT(device_stats.heatmap_encode_s, 0.0);
  }
  // Told to draw on the host, the pipeline does so whatever the engine offers.
  options.heatmaps_on_device = false;
  FakeEngine engine(3);
  engine.draws_on_device = true;
  PipelineStats stats;
  EXPECT_EQ(written("told_host", engine, &stats).size(), files.size());
  EXPECT_EQ(engine.heatmap_calls, 0);
  EXPECT_FALSE(stats.heatmaps_on_device);
}

TEST(Pipeline, DecodingStaysWithinItsLookAhead) {
  TempDir dir;
  const std::vector<uint8_t> png = read_bytes(test_data("cxr/formats/00012082_000_512.png"));
  std::vector<std::string> files;
  for (int i = 0; i < 40; ++i) {
    files.push_back(dir.file(std::to_string(i) + ".png"));
    write_bytes(files.back(), png);
  }
  PipelineOptions options;
  options.images_per_batch = 4;
  options.batches_ahead = 2;
  options.decode_threads = 4;
  FakeEngine engine(4);
  // While the sink has batch b, the engine can have taken batches up to b + 3 (two wait for
  // postprocessing, one waits to join them), so files from batch b + 4 + batches_ahead on
  // cannot have been read yet. The sink deletes the first of them: it must then fail as
  // missing. A pipeline that read ahead without bound would have read it already.
  std::vector<size_t> deleted;
  std::vector<FileResult> got;
  Result<PipelineStats> stats = run_pipeline(files, engine, options, [&](FileResult&& r) {
    if (r.index % 4 == 0) {
      const size_t ahead = (r.index / 4 + 4 + 2) * 4;
      if (ahead < files.size()) {
        std::filesystem::remove(files[ahead]);
        deleted.push_back(ahead);
      }
    }
    got.push_back(std::move(r));
    return Status::ok_status();
  });
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(got.size(), files.size());
  EXPECT_EQ(deleted, (std::vector<size_t>{24, 28, 32, 36}));
  for (size_t i = 0; i < files.size(); ++i) {
    const bool was_deleted = std::find(deleted.begin(), deleted.end(), i) != deleted.end();
    EXPECT_EQ(got[i].status.ok(), !was_deleted) << i << ": " << got[i].status.to_string();
    if (was_deleted) {
      EXPECT_EQ(got[i].status.code(), StatusCode::kNotFound);
    }
  }
  EXPECT_EQ(engine.calls.load(), 10);
}

TEST(Pipeline, ASinkFailureStopsTheRun) {
  std::vector<std::string> files;
  for (int i = 0; i < 4; ++i) {
    for (const std::string& f : bundled_images()) files.push_back(f);
  }
  PipelineOptions options;
  options.images_per_batch = 2;
  FakeEngine engine(2);
  size_t seen = 0;
  Result<PipelineStats> stats = run_pipeline(
      files, engine, options, [&](FileResult&&) { return ++seen == 3 ? io_error("disk full") : Status::ok_status(); });
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("disk full"), std::string::npos);
  EXPECT_EQ(seen, 3u);
  EXPECT_LT(engine.calls.load(), 14);
}

TEST(Pipeline, InvalidOptionsFailTheWholeRun) {
  FakeEngine engine(4);
  PipelineOptions options;
  options.images_per_batch = 5;
  EXPECT_EQ(run_pipeline({}, engine, options, [](FileResult&&) { return Status::ok_status(); }).status().code(),
            StatusCode::kInvalidArgument);
  options.images_per_batch = 1;
  options.preprocess.mode = ResizeMode::kTenCrop;  // 10 samples > max batch 4
  EXPECT_EQ(run_pipeline({}, engine, options, [](FileResult&&) { return Status::ok_status(); }).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chexrt::app
