// Helpers of the Caffe importer tests: where the bundled Caffe data lives, the error measure,
// and running a network on the reference executor or an engine.
#pragma once

#include <string>
#include <vector>

#include "chexrt/builder.h"
#include "chexrt/network.h"

namespace chexrt::caffetest {

/// tests/data/caffe in the source tree.
std::string data_dir();

/// max |got - want| / max(max |want|, 1e-30): the error relative to the output's range.
double range_relative_error(const HostTensor& got, const HostTensor& want);

/// The network's outputs for `inputs` on the reference executor (the imported graph as it is).
Result<std::vector<HostTensor>> run_reference(const NetworkDefinition& net, const std::vector<HostTensor>& inputs);

/// The network built into an engine on `device` (graph passes on) and run on `inputs`.
Result<std::vector<HostTensor>> run_engine(NetworkDefinition net, Device device, const std::vector<HostTensor>& inputs);

}  // namespace chexrt::caffetest
