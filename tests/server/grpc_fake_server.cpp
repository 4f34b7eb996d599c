// A gRPC server in front of the fake "sum" service (fake_inference_service.h), for clients in other
// languages: prints "port <N>" once it listens on 127.0.0.1, and shuts down when stdin closes.
#include <iostream>
#include <string>

#include "fake_inference_service.h"
#include "server/kserve_grpc.h"

int main() {
  chexrt::server::fake::FakeService service;
  auto server = chexrt::server::GrpcServer::start(service, "127.0.0.1", 0);
  if (!server.ok()) {
    std::cerr << "grpc_fake_server: " << server.status().to_string() << "\n";
    return 1;
  }
  std::cout << "port " << server.value()->port() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server.value()->shutdown();
  return 0;
}
