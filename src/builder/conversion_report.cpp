#include "builder/conversion_report.h"

#include <map>
#include <sstream>

#include "runtime/backend_registry.h"

namespace chexrt::builder {

ConversionPlan plan_conversion(const ir::Graph& graph, const backends::Backend& backend, Precision precision) {
  ConversionPlan plan;
  plan.backend = backend.name();
  for (int n = 0; n < graph.num_nodes(); ++n) {
    const ir::Node& node = graph.node(n);
    const bool on_backend = backend.supports(graph, node, precision);
    plan.converted += on_backend;
    if (plan.segments.empty() || plan.segments.back().on_backend != on_backend) plan.segments.push_back({on_backend});
    plan.segments.back().nodes.push_back(n);
    if (!on_backend) plan.segments.back().reasons.push_back(backend.why_unsupported(graph, node, precision));
  }
  return plan;
}

std::string conversion_report(const ir::Graph& graph, const ConversionPlan& plan) {
  int backend_segments = 0;
  for (const auto& s : plan.segments) backend_segments += s.on_backend;
  std::ostringstream out;
  out << "conversion report: backend " << plan.backend << ", " << plan.converted << " of " << graph.num_nodes()
      << " nodes converted into " << backend_segments << " engine segment(s), " << graph.num_nodes() - plan.converted
      << " node(s) left to the reference backend\n";
  for (size_t i = 0; i < plan.segments.size(); ++i) {
    const ConversionSegment& s = plan.segments[i];
    std::map<std::string, int> ops;
    for (int n : s.nodes) ++ops[ir::op_name(graph.node(n).op)];
    out << "  segment " << i << " on " << (s.on_backend ? plan.backend : std::string("reference")) << ": "
        << s.nodes.size() << " node(s), '" << graph.node(s.nodes.front()).name << "'";
    if (s.nodes.size() > 1) out << " .. '" << graph.node(s.nodes.back()).name << "'";
    out << " (";
    bool first = true;
    for (const auto& [op, count] : ops) {
      out << (first ? "" : ", ") << op << " x" << count;
      first = false;
    }
    out << ")\n";
    for (size_t k = 0; k < s.reasons.size(); ++k) {
      out << "    left outside: " << ir::describe(graph.node(s.nodes[k])) << ": " << s.reasons[k] << "\n";
    }
  }
  return out.str();
}

Result<std::string> conversion_report(const ir::Graph& graph, Device device, Precision precision) {
  for (const backends::BackendEntry& entry : backends::registered_backends()) {
    if (device != Device::kAuto && device != entry.device) continue;
    std::unique_ptr<backends::Backend> backend = entry.make();
    std::string why;
    if (!backend->available(&why)) {
      if (device != Device::kAuto) return unsupported(std::string("backend ") + backend->name() + ": " + why);
      continue;
    }
    return conversion_report(graph, plan_conversion(graph, *backend, precision));
  }
  return unsupported("no backend is available");
}

}  // namespace chexrt::builder
