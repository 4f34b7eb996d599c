#include "import/tensorflow/op_checker.h"

#include <map>

#include "import/tensorflow/tf_ops.h"

namespace chexrt::tf_import {

Status check_ops(const std::vector<const NodeDef*>& nodes) {
  std::map<std::string, std::vector<std::string>> missing;  // op -> node names
  for (const NodeDef* node : nodes) {
    if (find_importer(node->op()) == nullptr) missing[node->op()].push_back(node->name());
  }
  if (missing.empty()) return Status::ok_status();
  std::string message = "unsupported TensorFlow op(s), which chexrt's IR cannot represent:";
  for (const auto& [op, names] : missing) {
    message += " " + op + " (node '" + names[0] + "'";
    if (names.size() > 1) message += " and " + std::to_string(names.size() - 1) + " more";
    message += ");";
  }
  message += " supported ops:";
  for (const auto& op : op_types()) message += " " + op;
  return unsupported(message);
}

}  // namespace chexrt::tf_import
