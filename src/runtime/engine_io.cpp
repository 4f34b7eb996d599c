#include "runtime/engine_io.h"

#include <cstdio>

#include "engine/engine_file.h"
#include "runtime/backend_registry.h"

namespace chexrt {

namespace {

engine::EngineFingerprint fingerprint_of(const std::string& backend, const std::map<std::string, std::string>& fields,
                                         Precision precision, int64_t max_batch) {
  engine::EngineFingerprint f;
  f.backend = backend;
  auto get = [&](const char* key) {
    auto it = fields.find(key);
    return it == fields.end() ? std::string() : it->second;
  };
  f.device_name = get("device_name");
  const std::string cc = get("compute_capability");
  if (const auto dot = cc.find('.'); dot != std::string::npos) {
    f.compute_capability_major = std::stoi(cc.substr(0, dot));
    f.compute_capability_minor = std::stoi(cc.substr(dot + 1));
  }
  if (!get("cuda_runtime_version").empty()) f.cuda_runtime_version = std::stoi(get("cuda_runtime_version"));
  if (!get("cudnn_version").empty()) f.cudnn_version = std::stoi(get("cudnn_version"));
  f.chexrt_version = engine::chexrt_version();
  f.precision = precision_name(precision);
  f.max_batch = max_batch;
  return f;
}

Result<const backends::BackendEntry*> backend_of_file(const std::string& name) {
  if (const backends::BackendEntry* entry = backends::find_backend_of_engine_file(name)) return entry;
  return parse_error("engine file names an unknown backend '" + name + "'");
}

}  // namespace

namespace runtime {

Status save_engine_file(const std::string& path, ir::Graph graph, const BuildOptions& options,
                        const BuiltEngine& built) {
  engine::EngineFile file;
  file.fingerprint = fingerprint_of(built.backend, built.fingerprint, options.precision, options.max_batch);
  file.graph = std::move(graph);
  file.tactics = built.tactics;
  file.metadata["engine"] = built.engine->backend_name();
  // The batch range the profiles were timed for (min:opt:max; the tactics hold each profile's).
  file.metadata["batch_range"] = std::to_string(options.min_batch) + ":" +
                                 std::to_string(options.opt_batch == 0 ? options.max_batch : options.opt_batch) + ":" +
                                 std::to_string(options.max_batch);
  return engine::write_engine_file(path, file);
}

}  // namespace runtime

Result<std::unique_ptr<Engine>> load_engine(const std::string& path) { return load_engine(path, 0); }

Result<std::unique_ptr<Engine>> load_engine(const std::string& path, int gpu) {
  CHEXRT_ASSIGN_OR_RETURN(SavableEngine loaded, runtime::load_savable_engine(path, gpu));
  return std::move(loaded.built.engine);
}

Result<SavableEngine> runtime::load_savable_engine(const std::string& path, int gpu) {
  CHEXRT_ASSIGN_OR_RETURN(engine::EngineFile file, engine::read_engine_file(path));
  BuildOptions options;
  options.gpu = gpu;
  CHEXRT_ASSIGN_OR_RETURN(const backends::BackendEntry* entry, backend_of_file(file.fingerprint.backend));
  options.device = entry->device;
  CHEXRT_ASSIGN_OR_RETURN(options.precision, parse_precision(file.fingerprint.precision));
  options.max_batch = file.fingerprint.max_batch;
  options.optimize = false;
  if (auto range = file.metadata.find("batch_range"); range != file.metadata.end()) {
    long long min = 0, opt = 0, max = 0;
    if (std::sscanf(range->second.c_str(), "%lld:%lld:%lld", &min, &opt, &max) != 3 || min < 1 || min > opt ||
        opt > max || max != options.max_batch) {
      return parse_error(path + ": metadata batch_range '" + range->second + "' is not min:opt:max up to " +
                         std::to_string(options.max_batch));
    }
    options.min_batch = min;
    options.opt_batch = opt;
  }

  std::unique_ptr<backends::Backend> backend = entry->make();
  std::string why;
  if (!backend->available(&why)) {
    return Status(StatusCode::kVersionMismatch,
                  path + ": built for backend " + file.fingerprint.backend + ", which is not available here: " + why);
  }
  const auto here =
      fingerprint_of(backend->name(), backend->fingerprint(options), options.precision, options.max_batch);
  CHEXRT_RETURN_IF_ERROR(engine::check_fingerprint(file.fingerprint, here).with_context(path));
  SavableEngine loaded;
  CHEXRT_ASSIGN_OR_RETURN(loaded.built, build_optimized(file.graph, options, &file.tactics));
  loaded.graph = std::move(file.graph);
  loaded.options = options;
  return loaded;
}

}  // namespace chexrt
