#include "passes/pass_manager.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "ir/dump.h"
#include "ir/verifier.h"

namespace chexrt::passes {

namespace {

struct Pass {
  const char* name;
  Result<int> (*run)(ir::Graph&, std::vector<std::string>*);
};

// Order matters: constants fold and dead nodes go first so that later patterns see the real
// data flow; batch norms fold into convs before the Relu after them is fused (a conv with a
// fused ReLU can no longer absorb a batch norm); the conv/pool swap needs convs without a fused
// activation, which in DenseNet's transitions they are.
constexpr Pass kPipeline[] = {
    {"fold_constants", fold_constants},
    {"flatten_concat", flatten_concat},
    {"eliminate_dead_nodes", eliminate_dead_nodes},
    {"fold_batchnorm", fold_batchnorm},
    {"fuse_activation", fuse_activation},
    {"pool_before_conv", pool_before_conv},
    {"fuse_classifier_head", fuse_classifier_head},
};

// Debug switches (docs/env_vars.md): CHEXRT_DISABLE_PASSES="a,b" skips passes as
// PassOptions::disabled does; CHEXRT_DUMP_GRAPH=1 prints the graph after each pass to stderr.
std::vector<std::string> disabled_passes(const PassOptions& options) {
  std::vector<std::string> disabled = options.disabled;
  if (const char* env = std::getenv("CHEXRT_DISABLE_PASSES")) {
    std::istringstream list(env);
    for (std::string name; std::getline(list, name, ',');) {
      if (!name.empty()) disabled.push_back(name);
    }
  }
  return disabled;
}

bool dump_after_each_pass() {
  const char* env = std::getenv("CHEXRT_DUMP_GRAPH");
  return env != nullptr && *env != '\0' && std::string(env) != "0";
}

}  // namespace

std::vector<std::string> pipeline_pass_names() {
  std::vector<std::string> names;
  for (const Pass& p : kPipeline) names.push_back(p.name);
  return names;
}

Result<std::vector<std::string>> optimize(ir::Graph& graph, const PassOptions& options) {
  const std::vector<std::string> known = pipeline_pass_names();
  const std::vector<std::string> disabled = disabled_passes(options);
  for (const std::string& d : disabled) {
    if (std::find(known.begin(), known.end(), d) == known.end()) {
      std::string list;
      for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
      return invalid_argument("unknown pass '" + d + "' (passes: " + list + ")");
    }
  }
  CHEXRT_RETURN_IF_ERROR(ir::verify(graph).with_context("before optimization"));
  std::vector<std::string> log;
  for (const Pass& p : kPipeline) {
    if (std::find(disabled.begin(), disabled.end(), p.name) != disabled.end()) continue;
    const size_t first_line = log.size();
    CHEXRT_RETURN_IF_ERROR(p.run(graph, &log).status());
    if (options.verbose) {
      for (size_t i = first_line; i < log.size(); ++i) std::cerr << log[i] << "\n";
    }
    if (dump_after_each_pass()) std::cerr << "== graph after " << p.name << " ==\n" << ir::dump(graph);
  }
  return log;
}

}  // namespace chexrt::passes
