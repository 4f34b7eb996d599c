// The Caffe importer's network-level state: which layers the TEST phase includes, the blob
// versions (a top that reuses its bottom's name, "in place", makes a new version of that blob),
// the tensors bound to them, and the layers' weights. Per-layer importers (caffe_layers.cpp)
// translate one layer each through this interface.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "caffe_proto/caffe.pb.h"
#include "chexrt/caffe_parser.h"
#include "import/caffe/caffe_blobs.h"
#include "ir/graph.h"

namespace chexrt::caffe_import {

/// One value of a blob name: written by an input (producer -1) or by a layer's top.
struct BlobVersion {
  std::string blob;            ///< The blob's name in the .prototxt.
  std::string tensor_name;     ///< The network tensor's name (see resolve_versions).
  int producer = -1;           ///< Index into NetModel::layers, or -1 for a network input.
  std::vector<int> consumers;  ///< Layers reading this version, in order.
  bool last = false;           ///< The blob's last version.
  Tensor tensor;
};

/// The .prototxt after the TEST phase's include/exclude rules, with blob versions resolved.
struct NetModel {
  const caffe::NetParameter* net = nullptr;
  std::vector<const caffe::LayerParameter*> layers;  ///< Included layers, in order.
  std::vector<std::vector<int>> bottoms;             ///< Version ids per layer and bottom.
  std::vector<std::vector<int>> tops;                ///< Version ids per layer and top.
  std::vector<int> legacy_inputs;                    ///< Versions of NetParameter.input.
  std::vector<BlobVersion> versions;
  std::set<std::string> reserved_names;  ///< Every blob and tensor name the model uses.
};

class Importer {
 public:
  Importer(NetworkDefinition& net, NetModel& model, const CaffeImportOptions& options,
           const std::map<std::string, const caffe::LayerParameter*>* weights);

  /// Adds the inputs, imports every layer, marks the outputs (versions nothing reads).
  Status import();

  // The layer being imported.
  int index() const { return current_; }
  const caffe::LayerParameter& layer() const { return *model_.layers[current_]; }
  int num_bottoms() const { return layer().bottom_size(); }
  Tensor bottom(int i) const;
  Dims bottom_dims(int i) const;
  /// Layers that read top `i` of the current layer.
  const std::vector<int>& top_consumers(int i) const;
  const caffe::LayerParameter& layer_at(int index) const { return *model_.layers[index]; }

  /// The learned blobs of layer `index` (the current one by default): from the .caffemodel,
  /// checked against `specs`, or seeded.
  Result<std::vector<HostTensor>> blobs(const std::vector<BlobSpec>& specs, int index = -1);

  /// A constant of the network named after the current layer ("<layer>.<what>").
  Tensor constant(const std::string& what, HostTensor value);
  /// Adds one IR node for the current layer (`part` suffixes its name when the layer needs
  /// several); returns its first output, or the network's error.
  Result<Tensor> add(const std::string& op, const std::string& part, const std::vector<Tensor>& inputs,
                     const ir::Attributes& attrs = {});
  /// Binds top `top` of layer `index` (the current one by default) to `t`, renaming it.
  Status set_top(int top, Tensor t, int index = -1);
  /// Makes top `top` of the current layer a network input.
  Status add_input(int top, const Dims& dims);
  /// Marks layer `index` as imported by the current layer (a Scale folded into a BatchNorm).
  void absorb(int index) { absorbed_.insert(index); }

 private:
  std::string fresh_name(const std::string& base);
  Result<Dims> input_dims(const std::string& name, Dims dims) const;

  NetworkDefinition& net_;
  NetModel& model_;
  const CaffeImportOptions& options_;
  const std::map<std::string, const caffe::LayerParameter*>* weights_;
  int current_ = -1;
  std::set<int> absorbed_;
};

/// "layer 'conv1' (Convolution)" for messages.
std::string describe_layer(const caffe::LayerParameter& layer);

}  // namespace chexrt::caffe_import
