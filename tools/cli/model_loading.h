// Shared by the commands: where the default model lives and loading a model into an engine.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chexrt/builder.h"
#include "chexrt/engine.h"
#include "chexrt/network.h"
#include "cli_options.h"

namespace chexrt::cli {

/// The demo model made by scripts/make_reference_model.py (seeded weights, not trained).
std::string default_model_path();

/// The notice printed wherever the default model's predictions are shown.
extern const char* const kUntrainedModelNotice;

/// A TensorFlow frozen graph (.pb or .pbtxt) rather than an ONNX model (.onnx).
bool is_tensorflow_model(const std::string& path);

/// Parses a model into a network (dynamic batch dims set to `batch`), picking the importer by
/// the file name: .pb/.pbtxt TensorFlow, otherwise ONNX.
/// `input_shapes`: a TensorFlow graph's placeholder shapes ("NAME=1x3x224x224" words of
/// --input-shape, in the engine's layout), for graphs that do not declare them.
Result<NetworkDefinition> load_network(const std::string& model_path, int64_t batch,
                                       const std::vector<std::string>& input_shapes = {});

/// Build options from the command line's words ("cuda", "fp16", ...).
Result<BuildOptions> make_build_options(const std::string& device, const std::string& precision, int64_t max_batch,
                                        int threads);

}  // namespace chexrt::cli
