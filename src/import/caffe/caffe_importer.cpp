// .prototxt + .caffemodel -> NetworkDefinition: parse both (protobuf text and binary), keep the
// layers of the TEST phase, resolve blob versions, check every layer (layer_checker), then
// translate layer by layer (caffe_layers), each layer's blobs taken from the .caffemodel by name.
#include "import/caffe/caffe_importer.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "import/caffe/caffe_layers.h"
#include "import/caffe/layer_checker.h"
#include "import/fold_layer.h"
#include "import/model_file.h"

namespace chexrt {
namespace caffe_import {

std::string describe_layer(const caffe::LayerParameter& layer) {
  return "layer '" + layer.name() + "' (" + layer.type() + ")";
}

Importer::Importer(NetworkDefinition& net, NetModel& model, const CaffeImportOptions& options,
                   const std::map<std::string, const caffe::LayerParameter*>* weights)
    : net_(net), model_(model), options_(options), weights_(weights) {}

Tensor Importer::bottom(int i) const { return model_.versions[model_.bottoms[current_][i]].tensor; }
Dims Importer::bottom_dims(int i) const { return net_.tensor_dims(bottom(i)); }
const std::vector<int>& Importer::top_consumers(int i) const {
  return model_.versions[model_.tops[current_][i]].consumers;
}

std::string Importer::fresh_name(const std::string& base) {
  std::string name = base;
  for (int i = 1; model_.reserved_names.count(name) || net_.find_tensor(name).valid(); ++i) {
    name = base + "_" + std::to_string(i);
  }
  model_.reserved_names.insert(name);
  return name;
}

Tensor Importer::constant(const std::string& what, HostTensor value) {
  return net_.add_constant(fresh_name(layer().name() + "." + what), std::move(value));
}

Result<Tensor> Importer::add(const std::string& op, const std::string& part, const std::vector<Tensor>& inputs,
                             const ir::Attributes& attrs) {
  const std::string name = part.empty() ? layer().name() : layer().name() + "/" + part;
  const std::vector<Tensor> outs =
      net_.add_layer(op, name, inputs, import::to_layer_attributes(attrs), 1, {fresh_name(name + ".out")});
  if (!net_.status().ok()) return net_.status();
  return outs.at(0);
}

Status Importer::set_top(int top, Tensor t, int index) {
  BlobVersion& v = model_.versions[model_.tops[index < 0 ? current_ : index][top]];
  net_.set_tensor_name(t, v.tensor_name);
  v.tensor = t;
  return net_.status();
}

Result<Dims> Importer::input_dims(const std::string& name, Dims dims) const {
  const auto it = options_.input_shapes.find(name);
  if (it != options_.input_shapes.end()) {
    dims = it->second;
  } else if (options_.batch_size > 0 && !dims.empty()) {
    dims[0] = options_.batch_size;
  }
  if (dims.empty()) {
    return invalid_argument("input '" + name + "' has no shape (give one in the .prototxt or the import options)");
  }
  for (int64_t d : dims) {
    if (d < 1) return invalid_argument("input '" + name + "' has shape " + dims_to_string(dims));
  }
  return dims;
}

Status Importer::add_input(int top, const Dims& dims) {
  BlobVersion& v = model_.versions[model_.tops[current_][top]];
  CHEXRT_ASSIGN_OR_RETURN(const Dims d, input_dims(v.blob, dims));
  v.tensor = net_.add_input(v.tensor_name, DataType::kFloat32, d);
  return net_.status();
}

Result<std::vector<HostTensor>> Importer::blobs(const std::vector<BlobSpec>& specs, int index) {
  if (index < 0) index = current_;
  const caffe::LayerParameter& l = layer_at(index);
  // Errors come prefixed with the current layer; another one (a folded Scale) is named here.
  const std::string who = index == current_ ? "" : describe_layer(l) + ": ";
  std::vector<HostTensor> out;
  if (specs.empty()) return out;
  if (weights_ == nullptr && !options_.seeded_weights) {
    std::string needed;
    for (const auto& s : specs) needed += (needed.empty() ? "" : ", ") + s.what + " " + dims_to_string(s.dims);
    return invalid_argument(who + "needs learned blobs (" + needed + ") and no .caffemodel was given");
  }
  if (weights_ == nullptr) {
    for (size_t i = 0; i < specs.size(); ++i) {
      out.push_back(seeded_blob(specs[i], options_.seed, l.name(), static_cast<int>(i)));
    }
    return out;
  }
  const auto it = weights_->find(l.name());
  if (it == weights_->end()) return not_found(who + "no weights in the .caffemodel (no layer of that name)");
  const caffe::LayerParameter& w = *it->second;
  if (static_cast<size_t>(w.blobs_size()) != specs.size()) {
    std::string expected;
    for (const auto& s : specs) expected += (expected.empty() ? "" : ", ") + s.what + " " + dims_to_string(s.dims);
    return invalid_argument(who + std::to_string(w.blobs_size()) + " blobs in the .caffemodel, expected " +
                            std::to_string(specs.size()) + " (" + expected + ")");
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    auto t = blob_to_tensor(w.blobs(static_cast<int>(i)), specs[i]);
    if (!t.ok()) return t.status().with_context(who + "in the .caffemodel");
    out.push_back(std::move(*t));
  }
  return out;
}

Status Importer::import() {
  const caffe::NetParameter& net = *model_.net;
  for (int i = 0; i < static_cast<int>(model_.legacy_inputs.size()); ++i) {
    BlobVersion& version = model_.versions[model_.legacy_inputs[i]];
    Dims dims;
    if (net.input_shape_size() > 0) {
      dims.assign(net.input_shape(i).dim().begin(), net.input_shape(i).dim().end());
    } else if (net.input_dim_size() > 0) {
      dims.assign(net.input_dim().begin() + 4 * i, net.input_dim().begin() + 4 * i + 4);
    }
    CHEXRT_ASSIGN_OR_RETURN(const Dims d, input_dims(version.blob, dims));
    version.tensor = net_.add_input(version.tensor_name, DataType::kFloat32, d);
    CHEXRT_RETURN_IF_ERROR(net_.status());
  }
  for (current_ = 0; current_ < static_cast<int>(model_.layers.size()); ++current_) {
    if (absorbed_.count(current_)) continue;
    const LayerSpec* spec = find_layer_spec(layer().type());
    Status s = spec->import(*this);
    if (!s.ok()) {
      // Errors of the network start with "node 'name' (Op): "; the layer says it better.
      std::string message = s.message();
      if (message.rfind("node '", 0) == 0) {
        const size_t end = message.find("): ");
        if (end != std::string::npos) message = message.substr(end + 3);
      }
      return Status(s.code(), message).with_context(describe_layer(layer()));
    }
  }
  // Caffe's outputs: the blobs no layer reads after they are written.
  int outputs = 0;
  for (const BlobVersion& v : model_.versions) {
    if (v.producer < 0 || !v.consumers.empty() || !v.last) continue;
    if (layer_at(v.producer).type() == "Input") continue;  // an input nothing reads
    net_.mark_output(v.tensor);
    ++outputs;
  }
  if (outputs == 0) return invalid_argument("the network has no output (every blob is read by a later layer)");
  return net_.status();
}

}  // namespace caffe_import

namespace {

using caffe_import::BlobVersion;
using caffe_import::NetModel;
using caffe_import::UnknownField;

// Collects the text parser's messages; lines come 0-based.
class Collector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (error.empty()) error = "line " + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  void AddWarning(int line, int /*column*/, const std::string& message) override {
    std::string m = message;
    if (!m.empty() && m.back() == '.') m.pop_back();
    warnings.push_back({line + 1, m});
  }
  std::string error;
  std::vector<UnknownField> warnings;
};

// Caffe's NetStateRule test (net.cpp, StateMeetsRule) for the TEST phase.
bool meets_rule(const caffe::NetState& state, const caffe::NetStateRule& rule) {
  if (rule.has_phase() && rule.phase() != caffe::TEST) return false;
  if (rule.has_min_level() && state.level() < rule.min_level()) return false;
  if (rule.has_max_level() && state.level() > rule.max_level()) return false;
  const auto has = [&](const std::string& s) {
    return std::find(state.stage().begin(), state.stage().end(), s) != state.stage().end();
  };
  for (const auto& s : rule.stage()) {
    if (!has(s)) return false;
  }
  for (const auto& s : rule.not_stage()) {
    if (has(s)) return false;
  }
  return true;
}

Result<bool> included(const caffe::NetState& state, const caffe::LayerParameter& l) {
  if (l.include_size() > 0 && l.exclude_size() > 0) {
    return invalid_argument(caffe_import::describe_layer(l) + " has both include and exclude rules");
  }
  if (l.include_size() > 0) {
    return std::any_of(l.include().begin(), l.include().end(), [&](const auto& r) { return meets_rule(state, r); });
  }
  return std::none_of(l.exclude().begin(), l.exclude().end(), [&](const auto& r) { return meets_rule(state, r); });
}

// Blob versions: every input and top is a new version of its blob name; a bottom reads the
// latest. An input keeps its blob's name (what a user feeds), else the last version does (what a
// user asks for as an output); the others are named "<blob>@<layer that wrote it>".
Status resolve_versions(NetModel& m) {
  const caffe::NetParameter& net = *m.net;
  std::map<std::string, int> latest;
  const auto new_version = [&](const std::string& blob, int producer) {
    m.versions.push_back({blob, "", producer, {}, {}});
    latest[blob] = static_cast<int>(m.versions.size()) - 1;
    m.reserved_names.insert(blob);
    return static_cast<int>(m.versions.size()) - 1;
  };
  if (net.input_dim_size() > 0 && net.input_shape_size() > 0) {
    return invalid_argument("the network gives both input_dim and input_shape");
  }
  if (net.input_dim_size() > 0 && net.input_dim_size() != 4 * net.input_size()) {
    return invalid_argument("the network has " + std::to_string(net.input_dim_size()) + " input_dim values for " +
                            std::to_string(net.input_size()) + " inputs (4 per input)");
  }
  if (net.input_shape_size() > 0 && net.input_shape_size() != net.input_size()) {
    return invalid_argument("the network has " + std::to_string(net.input_shape_size()) + " input_shape for " +
                            std::to_string(net.input_size()) + " inputs");
  }
  for (const auto& name : net.input()) {
    if (latest.count(name)) return invalid_argument("input '" + name + "' is declared twice");
    m.legacy_inputs.push_back(new_version(name, -1));
  }
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const caffe::LayerParameter& l = *m.layers[i];
    std::vector<int> bottoms, tops;
    for (const auto& b : l.bottom()) {
      const auto it = latest.find(b);
      if (it == latest.end()) {
        return invalid_argument(caffe_import::describe_layer(l) + ": bottom '" + b +
                                "' is not an input or an earlier layer's top");
      }
      bottoms.push_back(it->second);
      m.versions[it->second].consumers.push_back(static_cast<int>(i));
    }
    for (const auto& t : l.top()) tops.push_back(new_version(t, static_cast<int>(i)));
    m.bottoms.push_back(std::move(bottoms));
    m.tops.push_back(std::move(tops));
  }
  std::set<std::string> used, input_blobs;
  const auto is_input = [&](const BlobVersion& v) { return v.producer < 0 || m.layers[v.producer]->type() == "Input"; };
  for (const BlobVersion& version : m.versions) {
    if (is_input(version)) input_blobs.insert(version.blob);
  }
  for (size_t v = 0; v < m.versions.size(); ++v) {
    BlobVersion& version = m.versions[v];
    version.last = latest[version.blob] == static_cast<int>(v);
    if (is_input(version) || (version.last && !input_blobs.count(version.blob))) {
      version.tensor_name = version.blob;
      used.insert(version.blob);
    }
  }
  for (BlobVersion& version : m.versions) {
    if (!version.tensor_name.empty()) continue;
    const std::string base = version.blob + "@" + (version.producer < 0 ? "input" : m.layers[version.producer]->name());
    std::string name = base;
    for (int k = 1; m.reserved_names.count(name) || used.count(name); ++k) name = base + "_" + std::to_string(k);
    version.tensor_name = name;
    used.insert(name);
    m.reserved_names.insert(name);
  }
  return Status::ok_status();
}

Result<NetworkDefinition> parse_net(const std::string& text, const std::string& weights_bytes,
                                    const std::string& prototxt_name, const std::string& caffemodel_name,
                                    const CaffeImportOptions& options) {
  caffe::NetParameter net;
  google::protobuf::TextFormat::Parser parser;
  Collector collector;
  google::protobuf::TextFormat::ParseInfoTree locations;
  parser.RecordErrorsTo(&collector);
  parser.AllowUnknownField(true);
  parser.WriteLocationsTo(&locations);
  if (!parser.ParseFromString(text, &net)) {
    return parse_error(prototxt_name + ": not a Caffe network definition (" +
                       (collector.error.empty() ? "text format" : collector.error) + ")");
  }
  if (net.layers_size() > 0) {
    return unsupported(prototxt_name + ": layer '" + net.layers(0).name() +
                       "' is in Caffe's legacy V1 format ('layers'); convert the file with Caffe's "
                       "upgrade_net_proto_text first");
  }
  // Which layer each unknown field falls in: layer i spans from its first line to layer i+1's.
  const auto* layer_field = caffe::NetParameter::descriptor()->FindFieldByName("layer");
  std::vector<int> first_line;
  for (int i = 0; i < net.layer_size(); ++i) first_line.push_back(locations.GetLocation(layer_field, i).line + 1);

  NetModel model;
  model.net = &net;
  std::vector<int> model_index(net.layer_size(), -1);
  for (int i = 0; i < net.layer_size(); ++i) {
    auto keep = included(net.state(), net.layer(i));
    if (!keep.ok()) return keep.status().with_context(prototxt_name);
    if (!*keep) continue;
    model_index[i] = static_cast<int>(model.layers.size());
    model.layers.push_back(&net.layer(i));
  }
  std::map<int, std::vector<UnknownField>> unknown;
  for (const UnknownField& f : collector.warnings) {
    const auto after = std::upper_bound(first_line.begin(), first_line.end(), f.line);
    const int layer = static_cast<int>(after - first_line.begin()) - 1;
    if (layer >= 0 && model_index[layer] < 0) continue;  // a layer of another phase
    unknown[layer < 0 ? -1 : model_index[layer]].push_back(f);
  }
  Status s = resolve_versions(model);
  if (!s.ok()) return s.with_context(prototxt_name);
  s = caffe_import::check_layers(model, unknown);
  if (!s.ok()) return s.with_context(prototxt_name);

  std::set<std::string> inputs;
  for (const auto& v : model.versions) {
    if (v.producer < 0 || model.layers[v.producer]->type() == "Input") inputs.insert(v.blob);
  }
  for (const auto& [name, dims] : options.input_shapes) {
    if (!inputs.count(name)) return invalid_argument(prototxt_name + ": input_shapes: '" + name + "' is not an input");
  }

  caffe::NetParameter weights;
  std::map<std::string, const caffe::LayerParameter*> by_name;
  if (!caffemodel_name.empty()) {
    if (!weights.ParseFromString(weights_bytes)) {
      return parse_error(caffemodel_name + ": not a Caffe model (the protobuf does not parse; is the file truncated?)");
    }
    if (weights.layers_size() > 0 && weights.layer_size() == 0) {
      return unsupported(caffemodel_name +
                         ": the weights are in Caffe's legacy V1 format ('layers'); convert the "
                         "file with Caffe's upgrade_net_proto_binary first");
    }
    for (const auto& l : weights.layer()) by_name[l.name()] = &l;  // the last of a name wins, as in Caffe
  }
  NetworkDefinition result;
  caffe_import::Importer importer(result, model, options, caffemodel_name.empty() ? nullptr : &by_name);
  s = importer.import();
  if (!s.ok()) return s.with_context(prototxt_name);
  return result;
}

}  // namespace

Result<NetworkDefinition> parse_caffe_buffers(const std::string& prototxt_text, const std::string& caffemodel_bytes,
                                              const CaffeImportOptions& options) {
  return parse_net(prototxt_text, caffemodel_bytes, "(in-memory .prototxt)",
                   caffemodel_bytes.empty() ? "" : "(in-memory .caffemodel)", options);
}

Result<NetworkDefinition> parse_caffe_files(const std::string& prototxt, const std::string& caffemodel,
                                            const CaffeImportOptions& options) {
  CHEXRT_ASSIGN_OR_RETURN(const std::string text, import::read_model_file(prototxt));
  std::string weights;
  if (!caffemodel.empty()) {
    CHEXRT_ASSIGN_OR_RETURN(weights, import::read_model_file(caffemodel));
    if (weights.empty()) return parse_error(caffemodel + ": the file is empty");
  }
  return parse_net(text, weights, prototxt, caffemodel, options);
}

std::vector<std::string> supported_caffe_layers() { return caffe_import::layer_types(); }

}  // namespace chexrt
