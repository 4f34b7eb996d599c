// The Caffe layer types chexrt accepts: one table entry per type with the bottoms and tops it
// takes and a check of its parameters (read by the layer checker before anything is built),
// and the function that imports one layer of that type.
#pragma once

#include <string>
#include <vector>

#include "caffe_proto/caffe.pb.h"
#include "import/caffe/caffe_importer.h"

namespace chexrt::caffe_import {

struct LayerSpec {
  const char* type;
  int min_bottoms;
  int max_bottoms;
  int min_tops;
  int max_tops;
  /// Checks of the layer's parameters that need no shapes (may be null).
  Status (*check)(const caffe::LayerParameter& layer);
  Status (*import)(Importer& im);
};

/// The table entry for a layer type, or nullptr.
const LayerSpec* find_layer_spec(const std::string& type);
/// Every layer type of the table, sorted.
std::vector<std::string> layer_types();

}  // namespace chexrt::caffe_import
