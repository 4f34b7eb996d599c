// Helpers of the CPU backend tests: random tensors, and running one hand-built graph on the CPU
// backend and on the reference executor at several batch sizes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "chexrt/builder.h"
#include "chexrt/network.h"
#include "reference_data.h"

namespace chexrt::cputest {

using chexrt::testing::random_uniform;

/// max |got - want| / max |want|: the error relative to the output's range, so that outputs
/// near zero (ReLU, cancellation in long sums) do not blow it up.
double range_relative_error(const HostTensor& got, const HostTensor& want);

/// Builds the network under test for a given batch size.
using NetworkFactory = std::function<NetworkDefinition(int64_t batch)>;

/// Builds the graph at `max_batch` straight on the CPU backend (no graph passes: the graph is
/// what is tested), runs it at every batch of `batches` on seeded random inputs, runs the same
/// inputs through the reference executor, and returns the worst range_relative_error over all
/// outputs and batches. Test failures (build or run errors) are reported through gtest.
double worst_error_vs_reference(const NetworkFactory& make, Precision precision, int64_t max_batch,
                                const std::vector<int64_t>& batches, std::string* layers = nullptr);

}  // namespace chexrt::cputest
