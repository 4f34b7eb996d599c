// Caffe importer: reads a network definition (.prototxt) and its trained weights (.caffemodel)
// into a NetworkDefinition, the same IR (NCHW) that the ONNX importer makes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "chexrt/network.h"

namespace chexrt {

struct CaffeImportOptions {
  /// Input shapes by input name, replacing the .prototxt's (input_dim, input_shape, Input layers).
  std::map<std::string, Dims> input_shapes;
  /// When > 0, dimension 0 (the batch) of every input not in input_shapes; 0 keeps the .prototxt's.
  int64_t batch_size = 0;
  /// Without a .caffemodel: fill every learned blob with seeded random values (deterministic for
  /// a seed) instead of refusing. For structure tests of definitions whose weights are not at hand.
  bool seeded_weights = false;
  uint32_t seed = 0;
};

/// Parses a .prototxt (text NetParameter) and takes each layer's blobs from the .caffemodel
/// (binary NetParameter) by layer name, as Caffe does. `caffemodel` "": no weights file, which
/// only networks without learned blobs (or options.seeded_weights) accept. Errors name the
/// file, the layer and its type.
Result<NetworkDefinition> parse_caffe_files(const std::string& prototxt, const std::string& caffemodel,
                                            const CaffeImportOptions& options = {});

/// The same from the files' contents; `caffemodel_bytes` "" means no weights file.
Result<NetworkDefinition> parse_caffe_buffers(const std::string& prototxt_text, const std::string& caffemodel_bytes,
                                              const CaffeImportOptions& options = {});

/// The Caffe layer types the importer accepts.
std::vector<std::string> supported_caffe_layers();

}  // namespace chexrt
