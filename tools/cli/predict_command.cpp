// chexrt predict: the 14 CheXNet findings for chest X-ray files and folders. A table per image
// by default, or JSON/CSV (--format) written atomically to --output; heat maps on request.
// One unreadable image is reported and skipped; the exit code is 3 when any image failed.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/atomic_file.h"
#include "app/findings.h"
#include "app/heatmap.h"
#include "app/image_batch.h"
#include "chexrt/builder.h"
#include "commands.h"
#include "heatmap_output.h"
#include "model_loading.h"
#include "table.h"

namespace chexrt::cli {

namespace fs = std::filesystem;

namespace {

struct PredictOptions {
  std::vector<std::string> paths;
  std::string model;
  std::string engine;
  std::string device = "auto";
  std::string precision = "fp32";
  int64_t batch = 8;
  int threads = 0;
  std::string format = "table";
  std::string output;
  std::string mode = "crop";
  int resize_size = 256;
  std::string heatmap_dir;
  std::string heatmap_finding;
  int heatmap_size = 1024;
  int64_t decode_memory_mb = app::kDefaultDecodeBudgetBytes >> 20;
};

struct ImageResult {
  std::string path;
  Status status;
  std::vector<float> probabilities;  // kNumFindings values when ok
  std::string heatmap;               // written heat map, if any
};

// Progress on stderr: an updating bar on a terminal, a line per batch otherwise.
class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(isatty(STDERR_FILENO)) {}
  void update(size_t done) {
    if (total_ < 2) return;
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
  bool tty_;
};

Result<app::PreprocessOptions> preprocess_options(const PredictOptions& o) {
  app::PreprocessOptions p;
  if (o.mode == "crop") p.mode = app::ResizeMode::kResizeCenterCrop;
  else if (o.mode == "exact") p.mode = app::ResizeMode::kResizeExact;
  else if (o.mode == "tencrop") p.mode = app::ResizeMode::kTenCrop;
  else return invalid_argument("--mode must be crop, exact or tencrop, not '" + o.mode + "'");
  p.resize_size = o.resize_size;
  CHEXRT_RETURN_IF_ERROR(app::validate(p));
  return p;
}

std::string render_table(const std::vector<ImageResult>& results) {
  std::ostringstream out;
  for (const auto& r : results) {
    if (!r.status.ok()) continue;
    out << r.path << (r.heatmap.empty() ? "" : "   heat map: " + r.heatmap) << "\n";
    Table table({"finding", "probability", ""});
    for (int k = 0; k < app::kNumFindings; ++k) {
      const float p = r.probabilities[k];
      table.add_row({std::string(app::kFindingNames[k]), format("%.4f", p),
                     std::string(static_cast<size_t>(std::clamp(p, 0.f, 1.f) * 20 + 0.5f), '#')});
    }
    out << table.to_string() << "\n";
  }
  return out.str();
}

std::string render_csv(const std::vector<ImageResult>& results) {
  std::ostringstream out;
  out << "image,status";
  for (auto name : app::kFindingNames) out << "," << name;
  out << "\n";
  auto quoted = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  for (const auto& r : results) {
    out << quoted(r.path) << "," << quoted(r.status.ok() ? "ok" : r.status.message());
    for (int k = 0; k < app::kNumFindings; ++k) out << "," << (r.status.ok() ? format("%.6f", r.probabilities[k]) : "");
    out << "\n";
  }
  return out.str();
}

std::string render_json(const std::vector<ImageResult>& results, const std::string& model, bool default_model) {
  nlohmann::ordered_json doc;
  doc["model"] = model;
  if (default_model) doc["notice"] = kUntrainedModelNotice;
  doc["findings"] = nlohmann::json::array();
  for (auto name : app::kFindingNames) doc["findings"].push_back(std::string(name));
  doc["results"] = nlohmann::json::array();
  doc["errors"] = nlohmann::json::array();
  for (const auto& r : results) {
    if (!r.status.ok()) {
      doc["errors"].push_back({{"image", r.path}, {"error", r.status.to_string()}});
      continue;
    }
    nlohmann::ordered_json findings;
    for (int k = 0; k < app::kNumFindings; ++k) findings[std::string(app::kFindingNames[k])] = r.probabilities[k];
    nlohmann::ordered_json item = {{"image", r.path}, {"probabilities", findings}};
    if (!r.heatmap.empty()) item["heatmap"] = r.heatmap;
    doc["results"].push_back(item);
  }
  return doc.dump(1) + "\n";
}

struct PredictEngine {
  std::unique_ptr<Engine> engine;
  HostTensor classifier_weights;  // [14, C] when the engine also outputs the CAM features
};

// Imports the model, exposes the last feature map for heat maps if asked, and builds.
Result<PredictEngine> build_predict_engine(const PredictOptions& o, const std::string& model, int64_t max_batch,
                                           bool heatmaps) {
  PredictEngine result;
  CHEXRT_ASSIGN_OR_RETURN(NetworkDefinition network, load_network(model, max_batch));
  if (heatmaps) {
    CHEXRT_ASSIGN_OR_RETURN(result.classifier_weights, attach_cam_features(network));
  }
  CHEXRT_ASSIGN_OR_RETURN(BuildOptions build, make_build_options(o.device, o.precision, max_batch, o.threads));
  CHEXRT_ASSIGN_OR_RETURN(result.engine, build_engine(std::move(network), build));
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
  auto engine = o.engine.empty() ? build_predict_engine(o, model, samples * std::max<int64_t>(1, o.batch), want_heatmaps)
                                 : load_predict_engine(o.engine);
  if (!engine.ok()) return report_error(engine.status());
  const int64_t images_per_batch = engine->engine->max_batch() / samples;
  if (images_per_batch < 1) {
    return report_error(invalid_argument("the engine's max batch " + std::to_string(engine->engine->max_batch()) +
                                         " is smaller than the " + std::to_string(samples) + " samples of one image"));
  }
  const HostTensor& classifier_weights = engine->classifier_weights;

  std::vector<ImageResult> results;
  Progress progress(files->size());
  app::DecodeBudget decode_budget(o.decode_memory_mb << 20);  // one bound across all batches
  app::LoadOptions load;
  load.preprocess = *prep;
  load.keep_images = want_heatmaps;
  load.kept_image_max_side = o.heatmap_size;
  load.budget = &decode_budget;
  for (size_t begin = 0; begin < files->size(); begin += images_per_batch) {
    const size_t end = std::min(files->size(), begin + static_cast<size_t>(images_per_batch));
    std::vector<std::string> chunk(files->begin() + begin, files->begin() + end);
    auto batch = app::load_image_batch(chunk, load);
    if (!batch.ok()) return report_error(batch.status());
    std::vector<HostTensor> outputs;
    Status run_status;
    if (batch->num_ok() > 0) run_status = engine->engine->infer({batch->input}, &outputs);
    for (auto& item : batch->items) {
      ImageResult r{item.path, item.status, {}, {}};
      if (r.status.ok()) r.status = run_status;
      if (r.status.ok()) {
        // Ten-crop: the findings are the mean over the image's samples.
        const float* probs = outputs[0].data<float>();
        r.probabilities.assign(app::kNumFindings, 0.f);
        for (int64_t s = 0; s < samples; ++s) {
          for (int k = 0; k < app::kNumFindings; ++k) {
            r.probabilities[k] += probs[(item.first_sample + s) * app::kNumFindings + k] / samples;
          }
        }
      }
      if (r.status.ok() && want_heatmaps) {
        const int k = heatmap_class >= 0 ? heatmap_class
                                         : static_cast<int>(std::max_element(r.probabilities.begin(), r.probabilities.end()) -
                                                            r.probabilities.begin());
        // The map of the centre crop (sample 4 of a ten-crop) is drawn where that crop came from.
        const int64_t sample = item.first_sample + (samples == 10 ? 4 : 0);
        Status s = write_heatmap(outputs[1], sample, classifier_weights, k, item.image, item.crop_region,
                                 o.heatmap_dir, item.path, &r.heatmap);
        if (!s.ok()) std::fprintf(stderr, "chexrt: warning: %s\n", s.to_string().c_str());
      }
      results.push_back(std::move(r));
    }
    progress.update(end);
  }

  std::string text;
  if (o.format == "table") text = render_table(results);
  else if (o.format == "csv") text = render_csv(results);
  else text = render_json(results, model, default_model);
  if (o.output.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    Status s = app::write_file_atomically(o.output, text);
    if (!s.ok()) return report_error(s);
    std::fprintf(stderr, "wrote %s\n", o.output.c_str());
  }
  size_t failed = 0;
  for (const auto& r : results) {
    if (r.status.ok()) continue;
    ++failed;
    std::fprintf(stderr, "chexrt: failed: %s\n", r.status.to_string().c_str());
  }
  std::fprintf(stderr, "%zu image(s) predicted, %zu failed\n", results.size() - failed, failed);
  if (default_model && o.format == "table") std::printf("%s\n", kUntrainedModelNotice);
  return failed ? kExitSomeInputsFailed : kExitOk;
}

}  // namespace

void register_predict_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<PredictOptions>();
  CLI::App* cmd = app.add_subcommand("predict", "Predict the 14 CheXNet findings for chest X-ray images");
  cmd->add_option("paths", o->paths, "Image files (PNG, JPEG, DICOM) and folders")->required();
  cmd->add_option("--model", o->model, "ONNX model (default: the seeded demo model, not trained)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--engine", o->engine, "Engine file made by `chexrt build` (instead of --model)")
      ->check(CLI::ExistingFile)
      ->excludes("--model");
  cmd->add_option("--device", o->device, kDeviceHelp)->capture_default_str();
  cmd->add_option("--precision", o->precision, kPrecisionHelp)->capture_default_str();
  cmd->add_option("--batch", o->batch, "Images per engine call (with --engine: its max batch)")
      ->capture_default_str()
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
  cmd->add_option("--heatmap-dir", o->heatmap_dir, "Write a class activation heat map PNG per image here");
  cmd->add_option("--heatmap-finding", o->heatmap_finding, "Finding for the heat maps (default: each image's top one)");
  cmd->add_option("--heatmap-size", o->heatmap_size, "Longer side of the heat maps at most (larger X-rays are scaled down)")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->add_option("--decode-memory", o->decode_memory_mb,
                  "MiB that decoding may hold at once over all threads (an image larger than this is decoded alone)")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->callback([o, &exit_code] { exit_code = run_predict(*o); });
}

}  // namespace chexrt::cli
