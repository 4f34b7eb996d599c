// The engine cache of `chexrt predict --model`: the engine built for a model is kept as an
// engine file keyed by the model's bytes and the build options, so that the next run with the
// same model and options loads it instead of building (as ONNX Runtime's TensorRT provider and
// TF-TRT cache theirs). An engine file also records the GPU, CUDA, cuDNN and chexrt it was
// built for; one built for another is refused on loading and rebuilt.
//
// Where: $CHEXRT_CACHE_DIR, else $XDG_CACHE_HOME/chexrt/engines, else ~/.cache/chexrt/engines.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "chexrt/builder.h"

namespace chexrt::cli {

std::string engine_cache_dir();

/// The cache file for a model (and its separate weights file, a Caffe .caffemodel, or "") and
/// the options it is built with; `variant` tells apart engines of one model with different
/// outputs (e.g. "cam" when the feature map is exposed).
Result<std::string> engine_cache_path(const std::string& model_path, const std::string& weights_path,
                                      const BuildOptions& options, const std::string& variant);

struct CachedEngine {
  std::unique_ptr<Engine> engine;
  std::string path;     ///< the cache file
  bool loaded = false;  ///< true: from the cache; false: built now (and cached if possible)
};

/// Loads the engine from `path`, or calls `build_network` and builds it, writing the engine
/// file there. A cache file that cannot be loaded (another GPU, truncated, ...) is rebuilt, and a
/// cache that cannot be written only costs the next run a build: both are said on stderr.
Result<CachedEngine> load_or_build_cached(const std::string& path, const BuildOptions& options,
                                          const std::function<Result<NetworkDefinition>()>& build_network);

}  // namespace chexrt::cli
