// GrpcServer where chexrt is built without gRPC (CHEXRT_WITH_GRPC=OFF, or gRPC not found): start()
// says why, so that `chexrt serve` can name the packages to install.
#include "server/kserve_grpc.h"

namespace chexrt::server {

struct GrpcServer::Impl {};

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GrpcServer::~GrpcServer() = default;

Result<std::unique_ptr<GrpcServer>> GrpcServer::start(InferenceService&, const std::string&, int, const GrpcOptions&) {
  return unsupported(
      "this chexrt was built without gRPC (install libgrpc++-dev and protobuf-compiler-grpc, then rebuild); "
      "serve with --grpc-port 0");
}

int GrpcServer::port() const { return 0; }
void GrpcServer::shutdown() {}

}  // namespace chexrt::server
