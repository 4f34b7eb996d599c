// make_grpc_transport where chexrt is built without gRPC (CHEXRT_WITH_GRPC=OFF, or gRPC not
// found): it says so, so that `chexrt perf --protocol grpc` fails with the reason.
#include "perf/perf_transport.h"

namespace chexrt::perf {

Result<std::unique_ptr<Transport>> make_grpc_transport(const LoadOptions&) {
  return unsupported(
      "--protocol grpc: this chexrt was built without gRPC (install libgrpc++-dev and protobuf-compiler-grpc, then "
      "rebuild); use --protocol http");
}

}  // namespace chexrt::perf
