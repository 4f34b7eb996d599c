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

/// Parses an ONNX file into a network (dynamic batch dims set to `batch`).
Result<NetworkDefinition> load_network(const std::string& model_path, int64_t batch);

/// Build options from the command line's words ("cuda", "fp16", ...).
Result<BuildOptions> make_build_options(const std::string& device, const std::string& precision, int64_t max_batch,
                                        int threads);

}  // namespace chexrt::cli
