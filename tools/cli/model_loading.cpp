#include "model_loading.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "chexrt/caffe_parser.h"
#include "chexrt/onnx_parser.h"

namespace chexrt::cli {

const char* const kUntrainedModelNotice =
    "NOTE: default demo model: DenseNet-121 with SEEDED (random) weights, NOT trained. "
    "Its predictions mean nothing for diagnosis. Pass --model with trained CheXNet weights.";

std::string default_model_path() {
  if (const char* env = std::getenv("CHEXRT_DEFAULT_MODEL")) return env;
  return std::string(CHEXRT_SOURCE_DIR) + "/models/generated/densenet121_chexnet_seeded.onnx";
}

bool is_caffe_definition(const std::string& model_path) {
  return std::filesystem::path(model_path).extension() == ".prototxt";
}

Result<NetworkDefinition> load_network(const std::string& model_path, int64_t batch, const std::string& weights) {
  if (is_caffe_definition(model_path)) {
    CaffeImportOptions options;
    options.batch_size = batch;
    auto network = parse_caffe_files(model_path, weights, options);
    if (!network.ok() && weights.empty() && network.status().message().find("no .caffemodel") != std::string::npos) {
      return Status(network.status().code(), network.status().message() + " (pass it with --weights M.caffemodel)");
    }
    return network;
  }
  if (!weights.empty()) {
    return invalid_argument("--weights " + weights + ": only a Caffe .prototxt model takes a weights file; " +
                            model_path + " holds its own");
  }
  OnnxImportOptions options;
  options.batch_size = batch;
  return parse_onnx_file(model_path, options);
}

CLI::Option* add_weights_option(CLI::App* cmd, std::string* weights) {
  return cmd->add_option("--weights", *weights, "Caffe weights (.caffemodel) for a Caffe .prototxt --model")
      ->check(CLI::ExistingFile);
}

Result<BuildOptions> make_build_options(const std::string& device, const std::string& precision, int64_t max_batch,
                                        int threads) {
  BuildOptions options;
  CHEXRT_ASSIGN_OR_RETURN(options.device, parse_device(device));
  CHEXRT_ASSIGN_OR_RETURN(options.precision, parse_precision(precision));
  options.max_batch = max_batch;
  options.threads = threads;
  return options;
}

}  // namespace chexrt::cli
