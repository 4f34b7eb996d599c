// The engine file: a built engine saved to disk so that it loads without re-running the passes
// and the tactic search. The format is documented byte by byte in docs/engine_format.md: magic,
// format version, a fingerprint of where it was built, the optimized graph with its weights
// (64-byte aligned within the file, so that a reader may map them), the tactic (kernel name)
// chosen for each node, free-form metadata, and a trailing FNV-1a 64 checksum.
//
// A file that is truncated, corrupted or of another format version is refused with a
// ParseError naming what is wrong; an engine built on another GPU, CUDA, cuDNN or chexrt
// version is refused by check_fingerprint() with a VersionMismatch naming the fields.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "chexrt/status.h"
#include "ir/graph.h"

namespace chexrt::engine {

/// The version of the layout described in docs/engine_format.md that this build writes and reads.
constexpr uint32_t kEngineFormatVersion = 1;

/// chexrt's own version (the CMake project version), e.g. "0.1.0".
const char* chexrt_version();

/// Where and how an engine was built. The environment fields (backend, device, CUDA, cuDNN,
/// chexrt version) must match where it runs; precision and max_batch describe the engine.
struct EngineFingerprint {
  std::string backend;      ///< "reference", "cpu-onednn", "cuda".
  std::string device_name;  ///< GPU name as the driver reports it; empty on CPU.
  int compute_capability_major = 0;
  int compute_capability_minor = 0;
  int cuda_runtime_version = 0;  ///< cudaRuntimeGetVersion(), e.g. 13000; 0 without CUDA.
  int cudnn_version = 0;         ///< cudnnGetVersion(), e.g. 91900; 0 without cuDNN.
  std::string chexrt_version;    ///< chexrt_version() of the build that made the engine.
  std::string precision;         ///< "fp32", "fp16".
  int64_t max_batch = 1;
};

struct EngineFile {
  EngineFingerprint fingerprint;
  ir::Graph graph;                   ///< The optimized graph, shapes inferred.
  std::vector<std::string> tactics;  ///< Per node of `graph`, the kernel name chosen; may be empty.
  std::map<std::string, std::string> metadata;
};

/// Writes the engine to `path` atomically: a temporary file in the same directory, renamed
/// over `path` once complete, so that a reader never sees half a file.
Status write_engine_file(const std::string& path, const EngineFile& file);

/// The engine in memory, as bytes in the file format (what write_engine_file writes).
Result<std::vector<uint8_t>> serialize_engine(const EngineFile& file);

/// Reads and checks an engine file (magic, version, size, checksum, every index and size).
Result<EngineFile> read_engine_file(const std::string& path);

/// Parses bytes in the file format; `source` names them in error messages.
Result<EngineFile> parse_engine(const std::vector<uint8_t>& bytes, const std::string& source);

/// Ok when an engine built with `file` can run `here`; otherwise a VersionMismatch that names
/// every field that differs, with both values.
Status check_fingerprint(const EngineFingerprint& file, const EngineFingerprint& here);

}  // namespace chexrt::engine
