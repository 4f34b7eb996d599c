// Builder: optimizes a NetworkDefinition and turns it into an Engine for one backend.
#pragma once

#include <memory>
#include <string>

#include "chexrt/engine.h"
#include "chexrt/network.h"

namespace chexrt {

enum class Device {
  kAuto,       ///< CUDA when a GPU is present, else the CPU backend, else the reference one.
  kReference,  ///< Naive C++ kernels: the oracle every other backend is tested against.
  kCpu,        ///< oneDNN.
  kCuda,       ///< cuDNN, cuBLASLt and chexrt's own kernels.
};

enum class Precision {
  kFp32,
  kFp16,
  kBf16,  ///< bfloat16 activations and weights, float32 accumulation (CPU backend, AVX-512 BF16).
};

Result<Device> parse_device(const std::string& name);
const char* device_name(Device device);
Result<Precision> parse_precision(const std::string& name);
const char* precision_name(Precision precision);

struct BuildOptions {
  Device device = Device::kAuto;
  Precision precision = Precision::kFp32;
  int64_t max_batch = 1;  ///< The engine accepts batches from 1 to this.
  /// The batch range a GPU engine is tuned for, as TensorRT's optimization profiles: kernels are
  /// timed at build time at every power of two from min_batch up to max_batch, at opt_batch
  /// (0: max_batch) and at max_batch, and each batch runs the kernels of the smallest of these
  /// at least as large (batches below min_batch those of the smallest). The CPU engine prepares
  /// every batch from 1 to max_batch. Nothing is timed or created after the build.
  int64_t min_batch = 1;
  int64_t opt_batch = 0;
  int threads = 0;  ///< CPU threads; 0 = all cores.
  /// CUDA engines: the GPU (device ordinal, as CUDA numbers the visible devices) the engine is
  /// built on and runs on, whichever thread calls it. Other engines ignore it.
  int gpu = 0;
  bool optimize = true;  ///< Run the graph passes (off: the imported graph as it is).
  bool verbose = false;  ///< Log each pass's changes and the conversion report to stderr.
};

/// Optimizes the network (graph passes) and builds an engine. The network is consumed.
Result<std::unique_ptr<Engine>> build_engine(NetworkDefinition network, const BuildOptions& options);

/// Like build_engine, and also writes the engine file (optimized graph, weights, the kernel
/// chosen for each node, and a fingerprint of this machine) atomically to `path`.
Result<std::unique_ptr<Engine>> build_engine_file(NetworkDefinition network, const BuildOptions& options,
                                                  const std::string& path);

/// Loads an engine file without the importer or tactic timing. Refused, with the differing
/// field named, when it was built for another GPU, CUDA, cuDNN or chexrt version; refused when
/// truncated or corrupted.
Result<std::unique_ptr<Engine>> load_engine(const std::string& path);
/// load_engine() onto GPU `gpu` (device ordinal) for a CUDA engine file, checked against that
/// GPU; other engines ignore it.
Result<std::unique_ptr<Engine>> load_engine(const std::string& path, int gpu);

}  // namespace chexrt
