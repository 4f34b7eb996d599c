// The backends chexrt knows, in one list: each one's name and the other words for it, the
// precisions it builds, what `--device` help says about it, and how to make it. The Backend it
// makes answers whether it is available on this build and machine, builds engines, and rebuilds
// an engine file's graph with the stored tactics. Everything that names a backend (parsing
// --device, the choice `auto` makes, loading an engine file by the backend it names, the
// command-line help) reads this list, so adding a backend is one entry here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "chexrt/builder.h"

namespace chexrt::backends {

/// A precision a backend builds, and the condition on the machine when there is one.
struct PrecisionSupport {
  Precision precision;
  const char* condition = nullptr;  ///< e.g. "CPUs with AVX-512 BF16"; nullptr: always.
};

struct BackendEntry {
  Device device;
  const char* name;                  ///< The --device word: "cuda".
  std::vector<const char*> aliases;  ///< Other words accepted for it: "gpu".
  const char* summary;               ///< What it runs on, for --device help.
  std::vector<PrecisionSupport> precisions;
  std::unique_ptr<Backend> (*make)();  ///< The backend (a stub that is not available when not built).

  bool builds(Precision precision) const;
};

/// Every backend, in the order `--device auto` tries them.
const std::vector<BackendEntry>& registered_backends();

/// The entry of a device (nullptr for Device::kAuto), of a --device word or alias, or of the
/// Backend::name() an engine file records ("cpu-onednn").
const BackendEntry* find_backend(Device device);
const BackendEntry* find_backend(const std::string& word);
const BackendEntry* find_backend_of_engine_file(const std::string& backend_name);

/// "auto (...), cuda (...), cpu (...) or reference (...)": the --device help.
std::string device_help();
/// "fp32, fp16 (cuda) or bf16 (cpu, on CPUs with AVX-512 BF16)": the --precision help.
std::string precision_help();

}  // namespace chexrt::backends
