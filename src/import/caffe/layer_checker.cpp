#include "import/caffe/layer_checker.h"

#include <climits>

#include "import/caffe/caffe_layers.h"

namespace chexrt::caffe_import {

namespace {

std::string count_range(int lo, int hi) {
  if (hi == INT_MAX) return std::to_string(lo) + " or more";
  if (hi == lo) return std::to_string(lo);
  return std::to_string(lo) + " to " + std::to_string(hi);
}

Status check_layer(const caffe::LayerParameter& l, const LayerSpec& spec) {
  if (l.bottom_size() < spec.min_bottoms || l.bottom_size() > spec.max_bottoms) {
    return invalid_argument("has " + std::to_string(l.bottom_size()) + " bottoms, expects " +
                            count_range(spec.min_bottoms, spec.max_bottoms));
  }
  if (l.top_size() < spec.min_tops || l.top_size() > spec.max_tops) {
    return invalid_argument("has " + std::to_string(l.top_size()) + " tops, expects " +
                            count_range(spec.min_tops, spec.max_tops));
  }
  for (const auto& top : l.top()) {
    if (top.empty()) return invalid_argument("has an empty top name");
  }
  if (spec.check != nullptr) return spec.check(l);
  return Status::ok_status();
}

}  // namespace

Status check_layers(const NetModel& model, const std::map<int, std::vector<UnknownField>>& unknown_fields) {
  // Unsupported types first, all of them: a model that needs several is refused in one message.
  std::string unsupported_list;
  int num_unsupported = 0;
  for (const auto* l : model.layers) {
    if (find_layer_spec(l->type()) != nullptr) continue;
    if (num_unsupported++ < 10) unsupported_list += (unsupported_list.empty() ? "" : ", ") + describe_layer(*l);
  }
  if (num_unsupported > 0) {
    if (num_unsupported > 10) unsupported_list += " and " + std::to_string(num_unsupported - 10) + " more";
    return unsupported(std::to_string(num_unsupported) + " layer" + (num_unsupported > 1 ? "s have" : " has") +
                       " a type chexrt does not support: " + unsupported_list);
  }
  std::map<std::string, int> seen;
  for (size_t i = 0; i < model.layers.size(); ++i) {
    const caffe::LayerParameter& l = *model.layers[i];
    if (l.name().empty()) return invalid_argument("layer " + std::to_string(i) + " (" + l.type() + ") has no name");
    if (!seen.emplace(l.name(), static_cast<int>(i)).second) {
      return invalid_argument(describe_layer(l) +
                              ": the name is used by an earlier layer too (weights are found by "
                              "layer name)");
    }
    Status s = check_layer(l, *find_layer_spec(l.type()));
    if (!s.ok()) return s.with_context(describe_layer(l));
  }
  for (const auto& [index, fields] : unknown_fields) {
    const std::string where = index < 0 ? "the network" : describe_layer(*model.layers[index]);
    const UnknownField& f = fields.front();
    return invalid_argument(where + ": line " + std::to_string(f.line) + ": " + f.message +
                            " (the field is not in chexrt's Caffe schema, and importing "
                            "the layer without it could change its meaning)");
  }
  return Status::ok_status();
}

}  // namespace chexrt::caffe_import
