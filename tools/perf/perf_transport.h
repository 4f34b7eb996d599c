// How `chexrt perf`'s workers reach the server: one Transport per concurrency level holds the
// requests prepared for the protocol (paths and headers for HTTP, ModelInferRequests for gRPC),
// and gives each worker a Connection of its own (a keep-alive HTTP connection, or a gRPC channel
// on its own TCP connection).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "chexrt/status.h"
#include "perf/perf_runner.h"

namespace httplib {
class Client;
}

namespace chexrt::perf {

/// A keep-alive client to url's host and port with `timeout_s` for connecting, sending and
/// receiving (perf_http.cpp).
std::unique_ptr<httplib::Client> make_http_client(const Url& url, double timeout_s);

class Connection {
 public:
  virtual ~Connection() = default;
  /// Sends LoadOptions::requests[index] and waits for the answer: "" when it is the protocol's
  /// answer, else the failure key of LevelResult::errors.
  virtual std::string send(size_t index) = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  /// A new connection for one worker (called on the worker's thread).
  virtual std::unique_ptr<Connection> connect() const = 0;
  /// Unavailable naming the address when the server cannot be reached or is not ready.
  virtual Status check_ready() const = 0;
};

/// KServe v2 over HTTP/REST to options.url (perf_http.cpp). `options` must outlive it.
std::unique_ptr<Transport> make_http_transport(const LoadOptions& options);

/// KServe v2 over gRPC to options.url's host:port (perf_grpc.cpp); Unsupported, saying so, where
/// chexrt is built without gRPC (perf_grpc_unavailable.cpp). `options` must outlive it.
Result<std::unique_ptr<Transport>> make_grpc_transport(const LoadOptions& options);

/// The transport of options.protocol.
Result<std::unique_ptr<Transport>> make_transport(const LoadOptions& options);

}  // namespace chexrt::perf
