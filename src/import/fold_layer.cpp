#include "import/fold_layer.h"

#include <type_traits>
#include <variant>

#include "backends/reference/reference_kernels.h"
#include "ir/shape_inference.h"

namespace chexrt::import {

Result<std::optional<std::vector<HostTensor>>> fold_layer(ir::OpType op, const std::string& layer,
                                                          const std::vector<FoldInput>& inputs,
                                                          const ir::Attributes& attrs,
                                                          const std::vector<std::string>& output_names) {
  ir::Graph g;
  std::vector<int> ids;
  for (const FoldInput& in : inputs) {
    if (in.name.empty()) {
      ids.push_back(ir::kNoValue);
      continue;
    }
    int id = g.find_value(in.name);
    if (id < 0) {
      CHEXRT_ASSIGN_OR_RETURN(
          id, in.constant ? g.add_constant(in.name, *in.constant) : g.add_input(in.name, in.dtype, in.dims));
    }
    ids.push_back(id);
  }
  CHEXRT_ASSIGN_OR_RETURN(const int n, g.add_node(op, layer, ids, output_names, attrs));
  CHEXRT_RETURN_IF_ERROR(ir::infer_node_shapes(g, n));
  const ir::Node& node = g.node(n);
  std::vector<HostTensor> results;
  for (int out : node.outputs) results.emplace_back(g.value(out).dtype, g.value(out).dims);
  if (op == ir::OpType::kShape) {
    // Shapes are static: y = dims(x)[start:end], with start and end made explicit by inference.
    const Dims& x = g.value(node.inputs[0]).dims;
    const int64_t start = node.attrs.get_int("start", 0);
    for (int64_t i = 0; i < results[0].numel(); ++i) results[0].data<int64_t>()[i] = x[start + i];
    return std::optional<std::vector<HostTensor>>(std::move(results));
  }
  std::string why;
  if (!reference::supports(g, node, &why)) return std::optional<std::vector<HostTensor>>();
  std::vector<const HostTensor*> in_data;
  for (int in : node.inputs) in_data.push_back(in == ir::kNoValue ? nullptr : &g.value(in).constant);
  std::vector<HostTensor*> out_data;
  for (auto& r : results) out_data.push_back(&r);
  CHEXRT_RETURN_IF_ERROR(reference::run_node(node, in_data, out_data));
  return std::optional<std::vector<HostTensor>>(std::move(results));
}

std::vector<LayerAttribute> to_layer_attributes(const ir::Attributes& attrs) {
  std::vector<LayerAttribute> out;
  for (const auto& [name, value] : attrs.all()) {
    std::visit(
        [&, &name = name](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int64_t>) out.push_back(LayerAttribute::integer(name, v));
          if constexpr (std::is_same_v<T, float>) out.push_back(LayerAttribute::real(name, v));
          if constexpr (std::is_same_v<T, std::string>) out.push_back(LayerAttribute::string(name, v));
          if constexpr (std::is_same_v<T, std::vector<int64_t>>) out.push_back(LayerAttribute::integers(name, v));
          if constexpr (std::is_same_v<T, std::vector<float>>) out.push_back(LayerAttribute::reals(name, v));
        },
        value);
  }
  return out;
}

}  // namespace chexrt::import
