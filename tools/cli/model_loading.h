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

/// True for a Caffe network definition (.prototxt), whose weights come from --weights.
bool is_caffe_definition(const std::string& model_path);

/// A TensorFlow frozen graph (.pb or .pbtxt) rather than an ONNX model (.onnx).
bool is_tensorflow_model(const std::string& path);

/// Parses a model into a network, the importer chosen by the file: a TensorFlow frozen graph
/// (.pb/.pbtxt), a Caffe .prototxt with its .caffemodel `weights`, else ONNX; dynamic batch dims
/// (a Caffe or TensorFlow input's dimension 0) set to `batch`. `weights` is refused for models
/// that hold their own. `input_shapes`: a TensorFlow graph's placeholder shapes
/// ("NAME=1x3x224x224" words of --input-shape, in the engine's layout), for graphs that do not
/// declare them.
Result<NetworkDefinition> load_network(const std::string& model_path, int64_t batch, const std::string& weights = "",
                                       const std::vector<std::string>& input_shapes = {});

/// Adds `--weights` (a Caffe .caffemodel for a .prototxt --model) to a command.
CLI::Option* add_weights_option(CLI::App* cmd, std::string* weights);

/// Build options from the command line's words ("cuda", "fp16", ...).
Result<BuildOptions> make_build_options(const std::string& device, const std::string& precision, int64_t max_batch,
                                        int threads);

}  // namespace chexrt::cli
