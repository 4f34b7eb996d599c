// Small helpers shared by the pass implementations (not part of the passes' API).
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace chexrt::passes::detail {

/// The one node that reads `value`, or -1 when none or several do, or when the value is a
/// graph output (its buffer is then needed as it is).
int sole_consumer(const ir::Graph& graph, const std::vector<std::vector<int>>& consumers, int value);

/// The float32 data of a constant value, or nullptr when the value is not a float32 constant.
const float* constant_floats(const ir::Graph& graph, int value);

/// Makes `first` produce the outputs of `second` directly, `second` being the node that reads
/// first's output. The caller marks `second` dead; its former output values keep their names,
/// so graph outputs and later readers are untouched.
void absorb_successor(ir::Graph& graph, int first, int second);

/// Gives input `slot` of `node` the data `tensor`: the constant is replaced when this node is
/// its only reader, otherwise a new constant named after `base_name` is made. Constant storage
/// is never written in place because copies of a graph share it.
Status set_constant_input(ir::Graph& graph, int node, size_t slot, HostTensor tensor, const std::string& base_name);

/// A new float32 constant holding `values` with dims `dims`, named after `base_name`.
Result<int> add_float_constant(ir::Graph& graph, const std::string& base_name, const std::vector<double>& values,
                               const Dims& dims);

/// Removes the nodes marked dead, re-infers shapes and verifies the graph; errors name `pass`.
Status finish_pass(ir::Graph& graph, const std::vector<bool>& dead, const char* pass);

/// Appends "pass: what" to the log when there is one.
void log_change(std::vector<std::string>* log, const char* pass, const std::string& what);

}  // namespace chexrt::passes::detail
