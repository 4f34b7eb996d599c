// chexrt build: optimize once and write an engine file that `chexrt bench --engine`,
// `chexrt predict --engine` and the C++ runtime load without the importer or tactic timing.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "chexrt/builder.h"
#include "commands.h"
#include "model_loading.h"
#include "runtime/backend_registry.h"

namespace chexrt::cli {

namespace {

struct BuildCliOptions {
  std::string model;
  std::string weights;
  std::string out;
  std::string device = "auto";
  std::string precision = "fp32";
  std::string batch = "1:8:8";
  int threads = 0;
  bool verbose = false;
  std::vector<std::string> input_shapes;
};

// "min:opt:max" or a single number (the max, with min 1): what BuildOptions' batch range says.
struct BatchRange {
  int64_t min = 1, opt = 0, max = 1;
};

Result<BatchRange> parse_batch_range(const std::string& text) {
  CHEXRT_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, parse_integer_list("--batch", text, 1, ':'));
  if (sizes.size() != 1 && sizes.size() != 3) {
    return invalid_argument("--batch " + text + ": expected min:opt:max or a number");
  }
  if (!std::is_sorted(sizes.begin(), sizes.end())) {
    return invalid_argument("--batch " + text + ": min, opt and max must satisfy min <= opt <= max");
  }
  if (sizes.size() == 1) return BatchRange{1, sizes[0], sizes[0]};
  return BatchRange{sizes[0], sizes[1], sizes[2]};
}

int run_build(const BuildCliOptions& o) {
  // Everything the command line names is checked before the model is read.
  auto range = parse_batch_range(o.batch);
  if (!range.ok()) return report_usage_error(range.status());
  const int64_t max_batch = range->max;
  auto build = make_build_options(o.device, o.precision, max_batch, o.threads);
  if (!build.ok()) return report_usage_error(build.status());
  build->min_batch = range->min;
  build->opt_batch = range->opt;
  Status out_ok = check_output_file("--out", o.out);
  if (!out_ok.ok()) return report_usage_error(out_ok);
  auto network = load_network(o.model, max_batch, o.weights, o.input_shapes);
  if (!network.ok()) return report_error(network.status());
  build->verbose = o.verbose;
  auto engine = build_engine_file(std::move(*network), *build, o.out);
  if (!engine.ok()) return report_error(engine.status());
  std::printf("wrote %s: %s engine, %s, batch 1..%lld (tuned for %lld:%lld:%lld)\n", o.out.c_str(),
              (*engine)->backend_name().c_str(), precision_name(build->precision), static_cast<long long>(max_batch),
              static_cast<long long>(range->min), static_cast<long long>(range->opt),
              static_cast<long long>(range->max));
  return 0;
}

}  // namespace

void register_build_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<BuildCliOptions>();
  CLI::App* cmd = app.add_subcommand("build", "Optimize a model once and write an engine file");
  cmd->add_option("--model", o->model,
                  "Model: ONNX, TensorFlow frozen graph (.pb, .pbtxt), or a Caffe .prototxt with --weights")
      ->required()
      ->check(CLI::ExistingFile);
  add_weights_option(cmd, &o->weights);
  cmd->add_option("--out", o->out, "Engine file to write")->required();
  cmd->add_option("--input-shape", o->input_shapes,
                  "NAME=D0xD1x...: a TensorFlow placeholder's shape (as the engine takes it: NCHW for images), "
                  "for graphs that do not declare it; repeatable");
  cmd->add_option("--device", o->device, backends::device_help())->capture_default_str();
  cmd->add_option("--precision", o->precision, backends::precision_help())->capture_default_str();
  cmd->add_option("--batch", o->batch,
                  "Batch range min:opt:max (or the max alone): the engine runs batches 1..max; GPU kernels are "
                  "timed at build time at each power of two from min to max and at opt, and a batch runs the "
                  "kernels timed at the smallest of these at least as large")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0: all cores)")
      ->capture_default_str()
      ->check(non_negative_integer());
  cmd->add_flag("-v,--verbose", o->verbose, "Log each pass and the conversion report");
  cmd->callback([o, &exit_code] { exit_code = run_build(*o); });
}

}  // namespace chexrt::cli
