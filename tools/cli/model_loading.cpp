#include "model_loading.h"

#include <cstdio>
#include <cstdlib>

#include "chexrt/onnx_parser.h"

namespace chexrt::cli {

const char* const kUntrainedModelNotice =
    "NOTE: default demo model: DenseNet-121 with SEEDED (random) weights, NOT trained. "
    "Its predictions mean nothing for diagnosis. Pass --model with trained CheXNet weights.";

std::string default_model_path() {
  if (const char* env = std::getenv("CHEXRT_DEFAULT_MODEL")) return env;
  return std::string(CHEXRT_SOURCE_DIR) + "/models/generated/densenet121_chexnet_seeded.onnx";
}

Result<NetworkDefinition> load_network(const std::string& model_path, int64_t batch) {
  OnnxImportOptions options;
  options.batch_size = batch;
  return parse_onnx_file(model_path, options);
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
