// Shared by the commands: where the default model lives and loading a model into an engine.
#pragma once

#include <memory>
#include <string>

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

/// Parses a model into a network, the importer chosen by the file: ONNX (dynamic batch dims set
/// to `batch`), or a Caffe .prototxt (its inputs' dimension 0 set to `batch`) with its
/// .caffemodel `weights`. `weights` is refused for models that hold their own.
Result<NetworkDefinition> load_network(const std::string& model_path, int64_t batch, const std::string& weights = "");

/// Adds `--weights` (a Caffe .caffemodel for a .prototxt --model) to a command.
CLI::Option* add_weights_option(CLI::App* cmd, std::string* weights);

/// Build options from the command line's words ("cuda", "fp16", ...).
Result<BuildOptions> make_build_options(const std::string& device, const std::string& precision, int64_t max_batch,
                                        int threads);

}  // namespace chexrt::cli
