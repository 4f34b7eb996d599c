#include "runtime/backend_registry.h"

#include <algorithm>

namespace chexrt::backends {

namespace {

constexpr Precision kPrecisions[] = {Precision::kFp32, Precision::kFp16, Precision::kBf16};

// "a, b or c".
std::string word_list(const std::vector<std::string>& items, const char* last_separator) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) s += i + 1 == items.size() ? last_separator : ", ";
    s += items[i];
  }
  return s;
}

}  // namespace

bool BackendEntry::builds(Precision precision) const {
  return std::any_of(precisions.begin(), precisions.end(),
                     [precision](const PrecisionSupport& p) { return p.precision == precision; });
}

const std::vector<BackendEntry>& registered_backends() {
  static const std::vector<BackendEntry> entries = {
      {Device::kCuda,
       "cuda",
       {"gpu"},
       "NVIDIA GPUs of compute capability 9.0 and later",
       {{Precision::kFp32}, {Precision::kFp16}},
       make_cuda_backend},
      {Device::kCpu,
       "cpu",
       {},
       "oneDNN",
       {{Precision::kFp32}, {Precision::kBf16, "CPUs with AVX-512 BF16"}},
       make_cpu_backend},
      {Device::kReference, "reference", {"ref"}, "naive C++ kernels", {{Precision::kFp32}}, make_reference_backend},
  };
  return entries;
}

const BackendEntry* find_backend(Device device) {
  for (const BackendEntry& e : registered_backends()) {
    if (e.device == device) return &e;
  }
  return nullptr;
}

const BackendEntry* find_backend(const std::string& word) {
  for (const BackendEntry& e : registered_backends()) {
    if (word == e.name) return &e;
    for (const char* alias : e.aliases) {
      if (word == alias) return &e;
    }
  }
  return nullptr;
}

const BackendEntry* find_backend_of_engine_file(const std::string& backend_name) {
  for (const BackendEntry& e : registered_backends()) {
    if (backend_name == e.make()->name()) return &e;
  }
  return nullptr;
}

std::string device_help() {
  std::vector<std::string> names, items;
  for (const BackendEntry& e : registered_backends()) names.push_back(e.name);
  items.push_back("auto (the first available of " + word_list(names, " and ") + ")");
  for (const BackendEntry& e : registered_backends()) items.push_back(std::string(e.name) + " (" + e.summary + ")");
  return word_list(items, " or ");
}

std::string precision_help() {
  std::vector<std::string> items;
  for (Precision precision : kPrecisions) {
    std::vector<std::string> where;
    bool everywhere = true;
    for (const BackendEntry& e : registered_backends()) {
      const auto it = std::find_if(e.precisions.begin(), e.precisions.end(),
                                   [precision](const PrecisionSupport& p) { return p.precision == precision; });
      if (it == e.precisions.end()) {
        everywhere = false;
        continue;
      }
      where.push_back(it->condition ? std::string(e.name) + ", on " + it->condition : std::string(e.name));
    }
    if (where.empty()) continue;
    std::string item = precision_name(precision);
    if (!everywhere) item += " (" + word_list(where, ", ") + ")";
    items.push_back(item);
  }
  return word_list(items, " or ");
}

}  // namespace chexrt::backends
