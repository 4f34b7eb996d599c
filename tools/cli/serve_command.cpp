// chexrt serve: the model behind a KServe v2 HTTP/REST endpoint (src/server), with the dynamic
// batcher, /metrics, /v1/predict and the web page. The port answers at once (live, not ready);
// the model is ready once its engine is built or loaded. SIGTERM or SIGINT stops accepting,
// answers every accepted request and exits 0. One log line per start, stop and error (stderr).
#include <pthread.h>
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "app/cam_model.h"
#include "backends/cuda/gpu_info.h"
#include "chexrt/builder.h"
#include "commands.h"
#include "engine_cache.h"
#include "model_loading.h"
#include "runtime/backend_registry.h"
#include "server/gpu_placement.h"
#include "server/kserve_grpc.h"
#include "server/kserve_http.h"
#include "server/model_server.h"

namespace chexrt::cli {

namespace {

struct ServeOptions {
  std::string model;
  std::string engine;
  std::string name = "chexnet";
  std::string device = "auto";
  std::string precision = "fp32";
  std::string host = "127.0.0.1";
  int port = 8000;
  int grpc_port = 8001;
  int64_t max_batch = 16;
  int64_t max_queue_delay_us = 0;
  std::string preferred_batch;
  int64_t max_queue = 256;
  int64_t timeout_ms = 0;
  int instances = 1;
  std::string gpus;
  int64_t max_body_mb = 64;
  int http_connections = 128;
  int threads = 0;
  std::string access_log;
  bool no_engine_cache = false;
};

void log_line(const std::string& line) { std::fprintf(stderr, "chexrt serve: %s\n", line.c_str()); }

// The engines, one per instance, instance i on GPU gpus[i]: a CUDA engine runs several
// inferences at once (one execution context each), so the instances on one GPU share that GPU's
// engine; the CPU and reference engines get one each, their threads divided among them (and
// ignore the GPU). The first engine is built (or loaded from the cache), the others loaded from
// its file where there is one, so that only one build times kernels.
Result<server::ModelInstances> load_instances(const ServeOptions& o, const std::string& model,
                                              const std::vector<int>& gpus) {
  server::ModelInstances result;
  result.gpus = gpus;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, cores / o.instances));
  BuildOptions build;
  if (o.engine.empty()) {
    CHEXRT_ASSIGN_OR_RETURN(build, make_build_options(o.device, o.precision, o.max_batch, threads));
  }
  bool heatmaps = o.engine.empty();
  auto import_model = [&]() -> Result<NetworkDefinition> {
    CHEXRT_ASSIGN_OR_RETURN(NetworkDefinition network, load_network(model, o.max_batch));
    if (heatmaps) {
      auto weights = app::attach_cam_features(network);
      if (weights.ok()) {
        result.cam_weights = std::move(weights).value();
      } else {
        log_line("no heat maps: " + weights.status().message());
      }
    }
    return network;
  };
  std::unique_ptr<Engine> first;
  std::string engine_file = o.engine;  // where the other instances load theirs from, if anywhere
  build.gpu = gpus[0];
  if (!o.engine.empty()) {
    CHEXRT_ASSIGN_OR_RETURN(first, load_engine(o.engine, gpus[0]));
    log_line("engine " + o.engine + " loaded (no heat maps: engine files hold no feature-map output)");
  } else if (o.no_engine_cache) {
    CHEXRT_ASSIGN_OR_RETURN(NetworkDefinition network, import_model());
    CHEXRT_ASSIGN_OR_RETURN(first, build_engine(std::move(network), build));
    log_line("engine built (" + first->backend_name() + ", not cached)");
  } else {
    CHEXRT_ASSIGN_OR_RETURN(std::string cache_path, engine_cache_path(model, "", build, "cam"));
    CHEXRT_ASSIGN_OR_RETURN(CachedEngine cached, load_or_build_cached(cache_path, build, import_model));
    // The classifier's weights live in the model, not in the engine file.
    if (cached.loaded) CHEXRT_RETURN_IF_ERROR(import_model().status());
    log_line(std::string("engine ") + (cached.loaded ? "loaded from the cache, " : "built and cached as ") +
             cached.path + " (" + cached.engine->backend_name() + ")");
    first = std::move(cached.engine);
    std::error_code ec;
    if (std::filesystem::exists(cache_path, ec)) engine_file = cache_path;
  }
  if (result.cam_weights.empty() || first->outputs().size() < 2) result.cam_weights = HostTensor();
  const bool shared = first->backend_name() == "cuda";
  // Another instance's engine, on `gpu`.
  auto another = [&](int gpu) -> Result<std::unique_ptr<Engine>> {
    if (!engine_file.empty()) return load_engine(engine_file, gpu);
    CHEXRT_ASSIGN_OR_RETURN(NetworkDefinition network, import_model());
    BuildOptions on_gpu = build;
    on_gpu.gpu = gpu;
    return build_engine(std::move(network), on_gpu);
  };
  std::map<int, std::shared_ptr<Engine>> per_gpu;  // shared CUDA engines by GPU
  result.engines.push_back(std::move(first));
  per_gpu[gpus[0]] = result.engines[0];
  for (int i = 1; i < o.instances; ++i) {
    const int gpu = gpus[static_cast<size_t>(i)];
    if (shared && per_gpu.count(gpu)) {
      result.engines.push_back(per_gpu[gpu]);
      continue;
    }
    CHEXRT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> next, another(gpu));
    result.engines.push_back(std::move(next));
    if (shared) per_gpu[gpu] = result.engines.back();
  }
  return result;
}

std::string join(const std::vector<int>& values) {
  std::string text;
  for (int v : values) text += (text.empty() ? "" : ",") + std::to_string(v);
  return text;
}

int run_serve(const ServeOptions& o) {
  auto build_words = make_build_options(o.device, o.precision, o.max_batch, o.threads);
  if (!build_words.ok()) return report_usage_error(build_words.status());
  server::ModelServerOptions model_options;
  model_options.name = o.name;
  model_options.batcher.max_batch = o.max_batch;
  model_options.batcher.max_queue_delay = std::chrono::microseconds(o.max_queue_delay_us);
  model_options.batcher.max_queue = static_cast<size_t>(o.max_queue);
  model_options.default_timeout = std::chrono::milliseconds(o.timeout_ms);
  if (!o.preferred_batch.empty()) {
    auto sizes = parse_integer_list("--preferred-batch", o.preferred_batch, 1);
    if (!sizes.ok()) return report_usage_error(sizes.status());
    for (int64_t size : *sizes) {
      if (size > o.max_batch) {
        return report_usage_error(invalid_argument("--preferred-batch: " + std::to_string(size) +
                                                   " is above --max-batch " + std::to_string(o.max_batch)));
      }
    }
    model_options.batcher.preferred_batch_sizes = *sizes;
  }
  // The GPU of each instance: --gpus round-robin, else GPU 0 (CPU engines ignore it).
  std::vector<int> instance_gpus(static_cast<size_t>(o.instances), 0);
  if (!o.gpus.empty()) {
    if (o.device == "cpu" || o.device == "reference") {
      return report_usage_error(invalid_argument("--gpus places CUDA engines; --device " + o.device + " runs none"));
    }
    auto gpus = server::parse_gpus(o.gpus, cuda::gpu_count());
    if (!gpus.ok()) return report_usage_error(gpus.status());
    instance_gpus = server::place_instances(o.instances, *gpus);
    if (static_cast<size_t>(o.instances) < gpus->size()) {
      log_line("note: --gpus " + o.gpus + " with " + std::to_string(o.instances) + " instance(s): GPU(s) " +
               join(std::vector<int>(gpus->begin() + o.instances, gpus->end())) + " get none (--instances " +
               std::to_string(gpus->size()) + " uses every one)");
    }
  }
  if (!o.access_log.empty() && o.access_log != "-") {
    Status s = check_output_file("--access-log", o.access_log);
    if (!s.ok()) return report_usage_error(s);
  }
  const bool demo = o.model.empty() && o.engine.empty();
  const std::string model = demo ? default_model_path() : o.model;
  model_options.demo_model = demo;

  // Signals are taken by one thread (sigwait), so every other thread starts with them blocked.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  server::MetricsRegistry registry;
  server::ModelServer service(model_options, registry);
  server::HttpOptions http_options;
  http_options.host = o.host;
  http_options.port = o.port;
  http_options.max_body_bytes = static_cast<size_t>(o.max_body_mb) << 20;
  http_options.connection_threads = o.http_connections;
  http_options.access_log = o.access_log;
  http_options.model_name = o.name;
  server::HttpServer http(service, &registry, http_options);
  Status started = http.start();
  if (!started.ok()) return report_error(started);
  log_line("listening on http://" + o.host + ":" + std::to_string(http.port()) + " (live; model '" + o.name +
           "' not ready until its engine is loaded)");
  std::unique_ptr<server::GrpcServer> grpc;
  if (o.grpc_port != 0) {
    server::GrpcOptions grpc_options;
    grpc_options.max_message_bytes = static_cast<size_t>(o.max_body_mb) << 20;
    auto grpc_started = server::GrpcServer::start(service, o.host, static_cast<int>(o.grpc_port), grpc_options);
    if (grpc_started.ok()) {
      grpc = std::move(grpc_started).value();
      log_line("listening on grpc://" + o.host + ":" + std::to_string(grpc->port()) + " (KServe v2 gRPC)");
    } else if (grpc_started.status().code() == StatusCode::kUnsupported) {
      // A build without gRPC still serves HTTP; the default --grpc-port must not stop it.
      log_line(grpc_started.status().message() + "; serving HTTP only");
    } else {
      http.stop();
      return report_error(grpc_started.status().with_context("--grpc-port " + std::to_string(o.grpc_port)));
    }
  }
  if (demo) log_line(kUntrainedModelNotice);

  std::mutex mutex;
  std::condition_variable stop_changed;
  int stop_signal = 0;
  std::thread signal_thread([&] {
    int received = 0;
    sigwait(&signals, &received);
    std::lock_guard<std::mutex> lock(mutex);
    stop_signal = received;
    stop_changed.notify_all();
  });

  auto instances = load_instances(o, model, instance_gpus);
  int exit_code = kExitOk;
  if (!instances.ok()) {
    log_line("error: " + instances.status().to_string());
    exit_code = kExitRuntimeError;
  } else {
    Status s = service.start(std::move(instances).value());
    if (!s.ok()) {
      log_line("error: " + s.to_string());
      exit_code = kExitRuntimeError;
    }
  }
  if (exit_code == kExitOk) {
    log_line("ready: model '" + o.name + "' on " + service.backend() + ", max batch " + std::to_string(o.max_batch) +
             ", " + std::to_string(o.instances) + " instance(s)" +
             (service.runs_on_gpu() ? " on GPU(s) " + join(instance_gpus) : std::string()) +
             (service.heatmaps_available() ? ", heat maps on" : ", no heat maps") + (demo ? ", DEMO model" : ""));
    std::unique_lock<std::mutex> lock(mutex);
    stop_changed.wait(lock, [&] { return stop_signal != 0; });
    log_line(std::string("received ") + (stop_signal == SIGINT ? "SIGINT" : "SIGTERM") +
             ": stopping (answering every accepted request)");
  } else {
    // Wake the signal thread so that it can be joined.
    pthread_kill(signal_thread.native_handle(), SIGTERM);
  }
  signal_thread.join();
  // Stop accepting on both protocols, then answer what was accepted (the gRPC server waits for
  // its calls, which need the model server), then drain the model server.
  http.stop();
  if (grpc) grpc->shutdown();
  service.shutdown();
  if (exit_code == kExitOk) log_line("stopped");
  return exit_code;
}

}  // namespace

void register_serve_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve the model over HTTP (KServe v2, /v1/predict, /metrics, web page)");
  cmd->add_option("--model", o->model, "ONNX model (default: the seeded demo model, not trained)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--engine", o->engine, "Engine file made by `chexrt build` (instead of --model; no heat maps)")
      ->check(CLI::ExistingFile)
      ->excludes("--model");
  cmd->add_option("--name", o->name, "Model name in the API")->capture_default_str();
  cmd->add_option("--device", o->device, backends::device_help())->capture_default_str();
  cmd->add_option("--precision", o->precision, backends::precision_help())->capture_default_str();
  cmd->add_option("--host", o->host, "Address to listen on (0.0.0.0: every interface)")->capture_default_str();
  cmd->add_option("--port", o->port, "HTTP port")->capture_default_str()->check(CLI::Range(1, 65535));
  cmd->add_option("--grpc-port", o->grpc_port, "gRPC port (0: off)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--max-batch", o->max_batch, "Samples per engine call at most (ten-crop: 10 per image)")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->add_option("--max-queue-delay-us", o->max_queue_delay_us,
                  "How long a request may wait for others to fill its batch, in microseconds")
      ->capture_default_str()
      ->check(non_negative_integer());
  cmd->add_option("--preferred-batch", o->preferred_batch, "Batch sizes that start at once, e.g. 4,8");
  cmd->add_option("--max-queue", o->max_queue, "Requests waiting at most; more are answered 503 at once")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->add_option("--timeout-ms", o->timeout_ms, "Answer 504 to a request still queued after this long (0: never)")
      ->capture_default_str()
      ->check(non_negative_integer());
  cmd->add_option("--instances", o->instances, "Engine instances (worker threads)")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->add_option("--gpus", o->gpus,
                  "GPUs for the instances, placed round-robin: all (every visible GPU) or device ordinals, e.g. 0,1 "
                  "(default: GPU 0)");
  cmd->add_option("--max-body-mb", o->max_body_mb, "Largest request body in MiB (larger: 413)")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->add_option("--http-connections", o->http_connections,
                  "HTTP connections served at once, one thread each (more wait for a free one)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--threads", o->threads, "CPU threads per engine instance (0: the cores divided among them)")
      ->capture_default_str()
      ->check(non_negative_integer());
  cmd->add_option("--access-log", o->access_log, "One JSON line per request to this file, or - for stdout");
  cmd->add_flag("--no-engine-cache", o->no_engine_cache, "Build the engine even if one is cached, and cache nothing");
  cmd->callback([o, &exit_code] { exit_code = run_serve(*o); });
}

}  // namespace chexrt::cli
