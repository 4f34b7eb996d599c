// chexrt predict: the 14 CheXNet findings for chest X-ray files and folders, through the
// streaming pipeline of app/pipeline.h. A table per image by default, or JSON/CSV (--format),
// written as results come (to --output atomically: the file appears whole at the end); heat maps
// on request. One unreadable image is reported and skipped; the exit code is 3 when any failed.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/cam_model.h"
#include "app/findings.h"
#include "app/heatmap.h"
#include "app/image_batch.h"
#include "app/pipeline.h"
#include "chexrt/builder.h"
#include "commands.h"
#include "core/atomic_file.h"
#include "engine_cache.h"
#include "model_loading.h"
#include "runtime/backend_registry.h"
#include "table.h"

namespace chexrt::cli {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kDefaultBatch = 8;  // images per engine call when predict builds the engine

struct PredictOptions {
  std::vector<std::string> paths;
  std::string model;
  std::string weights;
  std::string engine;
  std::string device = "auto";
  std::string precision = "fp32";
  int64_t batch = 0;  // 0: 8 when building, the engine's max batch with --engine
  int threads = 0;
  std::string format = "table";
  std::string output;
  std::string mode = "crop";
  int resize_size = 256;
  std::string heatmap_dir;
  std::string heatmap_finding;
  int heatmap_size = 1024;
  std::string heatmap_format = "png";
  std::string heatmap_on = "auto";
  int64_t decode_memory_mb = app::kDefaultDecodeBudgetBytes >> 20;
  int decode_threads = 0;
  std::string preprocess_on = "auto";
  std::string jpeg_decode_on = "host";
  std::string unfilter_on = "auto";
  bool verbose = false;
  bool no_engine_cache = false;
};

// Progress on stderr: an updating bar on a terminal, a line per batch otherwise.
class Progress {
 public:
  Progress(size_t total, size_t step) : total_(total), step_(std::max<size_t>(1, step)), tty_(isatty(STDERR_FILENO)) {}
  void update(size_t done) {
    if (total_ < 2 || (done % step_ != 0 && done != total_)) return;
    if (tty_) {
      const int width = 30;
      const int filled = static_cast<int>(width * done / total_);
      std::fprintf(stderr, "\r[%s%s] %zu/%zu images", std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), done, total_);
      if (done == total_) std::fprintf(stderr, "\n");
    } else {
      std::fprintf(stderr, "predict: %zu/%zu images\n", done, total_);
    }
  }

 private:
  size_t total_;
  size_t step_;
  bool tty_;
};

Result<app::PreprocessOptions> preprocess_options(const PredictOptions& o) {
  app::PreprocessOptions p;
  CHEXRT_ASSIGN_OR_RETURN(p.mode, app::parse_resize_mode(o.mode));
  p.resize_size = o.resize_size;
  CHEXRT_RETURN_IF_ERROR(app::validate(p));
  return p;
}

// Where the formatted results go: stdout as they come, or an --output file that appears whole
// (atomically) when the run ends.
class Output {
 public:
  static Result<Output> open(const std::string& path) {
    Output out;
    if (!path.empty()) {
      CHEXRT_ASSIGN_OR_RETURN(core::AtomicFileWriter file, core::AtomicFileWriter::open(path));
      out.file_.emplace(std::move(file));
    }
    return out;
  }
  Status write(const std::string& text) {
    if (file_) return file_->write(text);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return Status::ok_status();
  }
  Status finish() {
    if (file_) return file_->commit();
    std::fflush(stdout);
    return Status::ok_status();
  }

 private:
  std::optional<core::AtomicFileWriter> file_;
};

// The three formats, one result at a time.
class ResultWriter {
 public:
  ResultWriter(std::string format, std::string model, bool default_model)
      : format_(std::move(format)), model_(std::move(model)), default_model_(default_model) {}

  std::string begin() const {
    if (format_ == "csv") {
      std::string header = "image,status";
      for (auto name : app::kFindingNames) header += "," + std::string(name);
      return header + "\n";
    }
    if (format_ != "json") return "";
    nlohmann::ordered_json head;
    head["model"] = model_;
    if (default_model_) head["notice"] = kUntrainedModelNotice;
    head["findings"] = nlohmann::json::array();
    for (auto name : app::kFindingNames) head["findings"].push_back(std::string(name));
    std::string text = head.dump(1);
    text.resize(text.size() - 2);  // "\n}": the object stays open for the results
    return text + ",\n \"results\": [";
  }

  std::string result(const app::FileResult& r) {
    if (format_ == "csv") return csv_row(r);
    if (!r.status.ok()) {
      errors_.push_back({{"image", r.path}, {"error", r.status.to_string()}});
      return "";
    }
    if (format_ == "table") return table(r);
    nlohmann::ordered_json findings;
    for (int k = 0; k < app::kNumFindings; ++k) findings[std::string(app::kFindingNames[k])] = r.probabilities[k];
    nlohmann::ordered_json item = {{"image", r.path}, {"probabilities", findings}};
    if (!r.heatmap.empty()) item["heatmap"] = r.heatmap;
    const std::string text = (results_++ ? ",\n  " : "\n  ") + item.dump();
    return text;
  }

  std::string end() const {
    if (format_ == "table") return default_model_ ? std::string(kUntrainedModelNotice) + "\n" : "";
    if (format_ != "json") return "";
    return std::string(results_ ? "\n ]" : "]") + ",\n \"errors\": " + errors_.dump() + "\n}\n";
  }

 private:
  static std::string table(const app::FileResult& r) {
    std::string text = r.path + (r.heatmap.empty() ? "" : "   heat map: " + r.heatmap) + "\n";
    Table t({"finding", "probability", ""});
    for (int k = 0; k < app::kNumFindings; ++k) {
      const float p = r.probabilities[k];
      t.add_row({std::string(app::kFindingNames[k]), format("%.4f", p),
                 std::string(static_cast<size_t>(std::clamp(p, 0.f, 1.f) * 20 + 0.5f), '#')});
    }
    return text + t.to_string() + "\n";
  }

  static std::string csv_row(const app::FileResult& r) {
    auto quoted = [](const std::string& s) {
      std::string q = "\"";
      for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      return q + "\"";
    };
    std::string row = quoted(r.path) + "," + quoted(r.status.ok() ? "ok" : r.status.message());
    for (int k = 0; k < app::kNumFindings; ++k) row += "," + (r.status.ok() ? format("%.6f", r.probabilities[k]) : "");
    return row + "\n";
  }

  std::string format_;
  std::string model_;
  bool default_model_;
  size_t results_ = 0;
  nlohmann::json errors_ = nlohmann::json::array();
};

struct PredictEngine {
  std::unique_ptr<Engine> engine;
  HostTensor classifier_weights;  // [14, C] when the engine also outputs the CAM features
};

// The engine for --model: from the engine cache when this model was built with these options
// before, else imported (with the last feature map exposed for heat maps if asked), built and
// cached.
Result<PredictEngine> build_predict_engine(const PredictOptions& o, const std::string& model, int64_t max_batch,
                                           bool heatmaps) {
  PredictEngine result;
  CHEXRT_ASSIGN_OR_RETURN(BuildOptions build, make_build_options(o.device, o.precision, max_batch, o.threads));
  auto import_model = [&]() -> Result<NetworkDefinition> {
    CHEXRT_ASSIGN_OR_RETURN(NetworkDefinition network, load_network(model, max_batch, o.weights));
    if (heatmaps) {
      CHEXRT_ASSIGN_OR_RETURN(result.classifier_weights, app::attach_cam_features(network));
    }
    return network;
  };
  if (o.no_engine_cache) {
    CHEXRT_ASSIGN_OR_RETURN(NetworkDefinition network, import_model());
    CHEXRT_ASSIGN_OR_RETURN(result.engine, build_engine(std::move(network), build));
    return result;
  }
  CHEXRT_ASSIGN_OR_RETURN(std::string path, engine_cache_path(model, o.weights, build, heatmaps ? "cam" : ""));
  CHEXRT_ASSIGN_OR_RETURN(CachedEngine cached, load_or_build_cached(path, build, import_model));
  if (cached.loaded && heatmaps) {
    // The classifier's weights live in the model, not in the engine file.
    CHEXRT_RETURN_IF_ERROR(import_model().status());
  }
  std::fprintf(stderr, "engine: %s %s\n", cached.loaded ? "loaded from the cache," : "built and cached as",
               cached.path.c_str());
  result.engine = std::move(cached.engine);
  return result;
}

// An engine file made by `chexrt build`: it has the model's outputs only, so no heat maps.
Result<PredictEngine> load_predict_engine(const std::string& path) {
  PredictEngine result;
  CHEXRT_ASSIGN_OR_RETURN(result.engine, load_engine(path));
  if (result.engine->outputs().empty() || result.engine->outputs()[0].dims.size() != 2 ||
      result.engine->outputs()[0].dims[1] != app::kNumFindings) {
    return invalid_argument(path + ": the engine's first output is not [batch, 14] findings");
  }
  return result;
}

int run_predict(const PredictOptions& o) {
  // Everything the command line names is checked before any model is loaded or image read.
  if (o.format != "table" && o.format != "json" && o.format != "csv") {
    return report_usage_error(invalid_argument("--format must be table, json or csv, not '" + o.format + "'"));
  }
  auto prep = preprocess_options(o);
  if (!prep.ok()) return report_usage_error(prep.status());
  auto build_words = make_build_options(o.device, o.precision, 1, o.threads);
  if (!build_words.ok()) return report_usage_error(build_words.status());
  if (!o.output.empty()) {
    Status s = check_output_file("--output", o.output);
    if (!s.ok()) return report_usage_error(s);
  }
  auto files = app::expand_image_paths(o.paths);
  if (!files.ok()) return report_usage_error(files.status());
  if (files->empty()) return report_usage_error(not_found("no image files found in the given paths"));

  const bool default_model = o.model.empty() && o.engine.empty();
  const std::string model = !o.engine.empty() ? o.engine : default_model ? default_model_path() : o.model;
  if (default_model) std::fprintf(stderr, "%s\n", kUntrainedModelNotice);
  const int64_t samples = app::samples_per_image(*prep);
  const bool want_heatmaps = !o.heatmap_dir.empty();
  int heatmap_class = -1;
  if (!o.heatmap_finding.empty()) {
    auto index = app::finding_index(o.heatmap_finding);
    if (!index.ok()) return report_usage_error(index.status());
    heatmap_class = *index;
  }
  if (want_heatmaps && !o.engine.empty()) {
    return report_usage_error(invalid_argument("--heatmap-dir needs --model: engine files hold no feature-map output"));
  }
  if (want_heatmaps) {
    Status s = prepare_output_dir("--heatmap-dir", o.heatmap_dir);
    if (!s.ok()) return report_usage_error(s);
  }
  auto engine = o.engine.empty()
                    ? build_predict_engine(o, model, samples * (o.batch > 0 ? o.batch : kDefaultBatch), want_heatmaps)
                    : load_predict_engine(o.engine);
  if (!engine.ok()) return report_error(engine.status());
  const int64_t engine_images = engine->engine->max_batch() / samples;
  if (engine_images < 1) {
    return report_error(invalid_argument("the engine's max batch " + std::to_string(engine->engine->max_batch()) +
                                         " is smaller than the " + std::to_string(samples) + " samples of one image"));
  }
  // An engine file runs any batch up to its max: --batch picks one (smaller batches keep fewer
  // decoded images in flight, and on a GPU 64 keeps the engine as busy as 256).
  if (o.batch > engine_images) {
    return report_usage_error(invalid_argument("--batch " + std::to_string(o.batch) + " is above the engine's " +
                                               std::to_string(engine_images) + " images per call (max batch " +
                                               std::to_string(engine->engine->max_batch()) + ")"));
  }
  const int64_t images_per_batch = o.batch > 0 ? o.batch : engine_images;

  app::PipelineOptions pipeline;
  pipeline.preprocess = *prep;
  pipeline.images_per_batch = images_per_batch;
  pipeline.decode_threads = o.decode_threads;
  pipeline.preprocess_on_device = o.preprocess_on != "host";
  pipeline.jpeg_on_device = o.jpeg_decode_on == "device";
  pipeline.unfilter_png_on_device = o.unfilter_on != "host";
  pipeline.decode_budget_bytes = o.decode_memory_mb << 20;
  if (want_heatmaps) {
    pipeline.heatmap_dir = o.heatmap_dir;
    pipeline.heatmap_weights = engine->classifier_weights;
    pipeline.heatmap_class = heatmap_class;
    pipeline.heatmap_max_side = o.heatmap_size;
    pipeline.heatmap_format = o.heatmap_format == "jpeg" ? app::ImageFormat::kJpeg : app::ImageFormat::kPng;
    pipeline.heatmaps_on_device = o.heatmap_on != "host";
  }
  auto output = Output::open(o.output);
  if (!output.ok()) return report_error(output.status());
  ResultWriter writer(o.format, model, default_model);
  Status written = output->write(writer.begin());
  Progress progress(files->size(), static_cast<size_t>(images_per_batch));
  std::vector<std::string> failures;  // reported at the end, after the results
  auto stats = app::run_pipeline(*files, *engine->engine, pipeline, [&](app::FileResult&& r) {
    if (!r.status.ok()) failures.push_back(r.status.to_string());
    if (!r.heatmap_status.ok()) std::fprintf(stderr, "chexrt: warning: %s\n", r.heatmap_status.to_string().c_str());
    if (written.ok()) written = output->write(writer.result(r));
    progress.update(r.index + 1);
    return written;
  });
  if (!stats.ok()) return report_error(stats.status());
  if (written.ok()) written = output->write(writer.end());
  if (written.ok()) written = output->finish();
  if (!written.ok()) return report_error(written);
  if (!o.output.empty()) std::fprintf(stderr, "wrote %s\n", o.output.c_str());
  for (const std::string& failure : failures) std::fprintf(stderr, "chexrt: failed: %s\n", failure.c_str());
  const size_t failed = failures.size();
  std::fprintf(stderr, "%zu image(s) predicted, %zu failed in %.2f s (%.1f images/s)\n", files->size() - failed, failed,
               stats->wall_s, stats->images_per_second());
  if (o.verbose) {
    // With the GPU unfiltering PNG rows, decoding is the inflating alone for the PNGs it took.
    const std::string decode_stage =
        !stats->preprocess_on_device ? "read+decode+preprocess"
        : stats->png_unfiltered_on_device
            ? "read+decode (" + std::to_string(stats->png_rows_files) + " PNG(s) inflated only, unfiltered on the GPU)"
            : "read+decode";
    std::string engine_stage = engine->engine->backend_name();
    if (stats->preprocess_on_device) {
      engine_stage += std::string(", ") + (stats->jpeg_on_device ? "JPEG decoding, " : "") +
                      (stats->png_unfiltered_on_device ? "PNG unfiltering, " : "") + "preprocessing included";
    }
    std::fprintf(stderr,
                 "stages (busy seconds): %s %.2f over %d threads (%.1f images/s per thread), "
                 "batch assembly %.2f, engine %.2f (%s), engine waiting for images %.2f, findings+heat maps+output "
                 "%.2f; decoded bytes held at most %.1f MB\n",
                 decode_stage.c_str(), stats->decode_s, stats->decode_threads,
                 stats->decode_s > 0 ? files->size() / stats->decode_s : 0.0, stats->assemble_s, stats->infer_s,
                 engine_stage.c_str(), stats->wait_decode_s, stats->postprocess_s, stats->decode_peak_bytes / 1e6);
    std::fprintf(stderr, "JPEG decoding: %s\n",
                 stats->jpeg_on_device
                     ? ("by the engine on the GPU (nvJPEG), " + std::to_string(stats->jpeg_host_retries) +
                        " batch(es) decoded again on the CPU after a failure")
                           .c_str()
                     : "on the CPU, by the decode threads");
    if (want_heatmaps) {
      // On the GPU, PNGs are encoded there: the host only writes them.
      const bool png = o.heatmap_format != "jpeg";
      const bool encoded_on_device = stats->heatmaps_on_device && png;
      std::fprintf(stderr, "heat maps (busy seconds): drawing %.2f (%s), %s %.2f (%s)\n", stats->heatmap_draw_s,
                   !stats->heatmaps_on_device ? "on the CPU"
                   : encoded_on_device        ? "and PNG encoding on the GPU, copies included"
                                              : "on the GPU, copies included",
                   encoded_on_device ? "writing" : "encoding and writing", stats->heatmap_encode_s,
                   png ? "PNG" : "JPEG");
    }
  }
  return failed ? kExitSomeInputsFailed : kExitOk;
}

}  // namespace

void register_predict_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<PredictOptions>();
  CLI::App* cmd = app.add_subcommand("predict", "Predict the 14 CheXNet findings for chest X-ray images");
  cmd->add_option("paths", o->paths, "Image files (PNG, JPEG, DICOM) and folders")->required();
  auto* model = cmd->add_option("--model", o->model,
                                "Model: ONNX, or a Caffe .prototxt with --weights (default: the seeded demo model, not "
                                "trained)")
                    ->check(CLI::ExistingFile);
  add_weights_option(cmd, &o->weights)->needs(model);
  cmd->add_option("--engine", o->engine, "Engine file made by `chexrt build` (instead of --model)")
      ->check(CLI::ExistingFile)
      ->excludes("--model");
  cmd->add_option("--device", o->device, backends::device_help())->capture_default_str();
  cmd->add_option("--precision", o->precision, backends::precision_help())->capture_default_str();
  cmd->add_option("--batch", o->batch,
                  "Images per engine call (default " + std::to_string(kDefaultBatch) +
                      "; with --engine: its max batch, or any smaller size)")
      ->check(positive_integer());
  cmd->add_option("--threads", o->threads, "CPU threads (0: all cores)")
      ->capture_default_str()
      ->check(non_negative_integer());
  cmd->add_option("--format", o->format, "table, json or csv")->capture_default_str();
  cmd->add_option("--output", o->output, "Write the results to this file (atomically) instead of stdout");
  cmd->add_option("--mode", o->mode, "crop (resize then centre crop), exact (resize to 224x224) or tencrop")
      ->capture_default_str();
  cmd->add_option("--resize-size", o->resize_size,
                  "Shorter side before cropping (at most " + std::to_string(app::kMaxPreprocessSize) + ")")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->add_option("--heatmap-dir", o->heatmap_dir,
                  "Write a class activation heat map per image here (PNG, or JPEG with --heatmap-format jpeg)");
  cmd->add_option("--heatmap-finding", o->heatmap_finding, "Finding for the heat maps (default: each image's top one)");
  cmd->add_option("--heatmap-format", o->heatmap_format,
                  "Heat map files: png (lossless) or jpeg (quality 90, 40% of the encoding time)")
      ->check(CLI::IsMember({"png", "jpeg"}))
      ->capture_default_str();
  cmd->add_option("--heatmap-size", o->heatmap_size,
                  "Longer side of the heat maps at most (larger X-rays are scaled down)")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->add_option("--heatmap-on", o->heatmap_on,
                  "Where heat maps are drawn: auto (on the GPU when the engine runs there, the CPU cores only "
                  "encoding them), host or device (the same as auto; the CPU backends always draw on the host)")
      ->check(CLI::IsMember({"auto", "host", "device"}))
      ->capture_default_str();
  cmd->add_option("--preprocess-on", o->preprocess_on,
                  "Where images are resized, cropped and normalized: auto (on the GPU when the engine runs there), "
                  "host or device (the same as auto; the CPU backends always preprocess on the host)")
      ->check(CLI::IsMember({"auto", "host", "device"}))
      ->capture_default_str();
  cmd->add_option("--jpeg-decode-on", o->jpeg_decode_on,
                  "Where JPEG files are decoded: host (libjpeg: PIL's pixels) or device (through nvJPEG when the "
                  "engine preprocesses on the GPU and nvJPEG loads, except with --heatmap-dir: within 2 grey levels "
                  "of libjpeg's pixels)")
      ->check(CLI::IsMember({"host", "device"}))
      ->capture_default_str();
  cmd->add_option("--unfilter-on", o->unfilter_on,
                  "Where PNG rows are unfiltered when the GPU preprocesses: auto (on the GPU when the engine runs "
                  "there and no heat maps are drawn: the decode threads only inflate PNGs), host or device (the "
                  "same as auto)")
      ->check(CLI::IsMember({"auto", "host", "device"}))
      ->capture_default_str();
  cmd->add_option("--decode-threads", o->decode_threads, "Threads that read and decode images (0: one per core)")
      ->capture_default_str()
      ->check(non_negative_integer());
  cmd->add_flag("-v,--verbose", o->verbose, "Print where the time went, stage by stage");
  cmd->add_flag("--no-engine-cache", o->no_engine_cache,
                "Build the engine for --model even if one is cached, and cache nothing (cache: $CHEXRT_CACHE_DIR, "
                "else ~/.cache/chexrt/engines)");
  cmd->add_option("--decode-memory", o->decode_memory_mb,
                  "MiB that decoding may hold at once over all threads (an image larger than this is decoded alone)")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->callback([o, &exit_code] { exit_code = run_predict(*o); });
}

}  // namespace chexrt::cli
