#include "op_test_util.h"

#include <cmath>
#include <random>

#include "runtime/graph_executor.h"

namespace chexrt::test {

HostTensor iota_f32(const Dims& dims, float first) {
  HostTensor t(DataType::kFloat32, dims);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = first + static_cast<float>(i);
  return t;
}

Result<std::vector<HostTensor>> run_op(const std::string& op, const std::vector<OpInput>& inputs,
                                       const std::vector<LayerAttribute>& attributes, int num_outputs) {
  NetworkDefinition net;
  std::vector<Tensor> handles;
  std::vector<HostTensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const OpInput& in = inputs[i];
    const std::string name = "in" + std::to_string(i);
    switch (in.kind) {
      case OpInput::kInput:
        handles.push_back(net.add_input(name, in.tensor.dtype(), in.tensor.dims()));
        feeds.push_back(in.tensor);
        break;
      case OpInput::kConstant:
        handles.push_back(net.add_constant(name, in.tensor));
        break;
      case OpInput::kAbsent:
        handles.push_back(Tensor{});
        break;
    }
  }
  const std::vector<Tensor> outs = net.add_layer(op, "node", handles, attributes, num_outputs);
  for (const Tensor& t : outs) net.mark_output(t);
  if (!net.status().ok()) return net.status();
  return runtime::run_reference(net.graph(), feeds);
}

std::vector<HostTensor> run_op_ok(const std::string& op, const std::vector<OpInput>& inputs,
                                  const std::vector<LayerAttribute>& attributes, int num_outputs) {
  auto result = run_op(op, inputs, attributes, num_outputs);
  EXPECT_TRUE(result.ok()) << result.status().to_string();
  // On failure, empty [0] tensors let the caller's checks fail instead of crashing.
  if (!result.ok()) return std::vector<HostTensor>(num_outputs, HostTensor(DataType::kFloat32, {0}));
  EXPECT_EQ(result->size(), static_cast<size_t>(num_outputs));
  return std::move(result).value();
}

void expect_tensor_near(const HostTensor& actual, const Dims& dims, const std::vector<double>& expected, double abs_tol,
                        double rel_tol) {
  ASSERT_EQ(actual.dims(), dims);
  ASSERT_EQ(static_cast<size_t>(actual.numel()), expected.size());
  const std::vector<double> got = actual.to_doubles();
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(got[i], expected[i], abs_tol + rel_tol * std::fabs(expected[i])) << "element " << i;
  }
}

}  // namespace chexrt::test
