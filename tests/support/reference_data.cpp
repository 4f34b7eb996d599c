#include "reference_data.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "import/tensor_io.h"

namespace chexrt::testing {

namespace fs = std::filesystem;

Result<ReferenceSet> load_reference_set(const std::string& generated_dir) {
  const fs::path dir = fs::path(generated_dir) / "reference";
  const fs::path manifest_path = dir / "manifest.json";
  std::ifstream in(manifest_path);
  if (!in) {
    return not_found(manifest_path.string() +
                     " not found: run /usr/bin/python3 scripts/make_reference_model.py (scripts/test.sh does)");
  }
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    return parse_error(manifest_path.string() + ": " + e.what());
  }
  ReferenceSet set;
  set.model_path = (dir / manifest.value("model", "")).lexically_normal().string();
  for (const auto& entry : manifest.value("entries", nlohmann::json::array())) {
    ReferenceImage ref;
    ref.image = entry.value("image", "");
    CHEXRT_ASSIGN_OR_RETURN(ref.input, read_npy((dir / entry.value("input", "")).string()));
    CHEXRT_ASSIGN_OR_RETURN(ref.output, read_npy((dir / entry.value("output", "")).string()));
    CHEXRT_ASSIGN_OR_RETURN(ref.output_f64, read_npy((dir / entry.value("output_f64", "")).string()));
    set.entries.push_back(std::move(ref));
  }
  if (set.entries.empty()) return parse_error(manifest_path.string() + ": no entries");
  return set;
}

HostTensor random_uniform(const Dims& dims, uint32_t seed, float lo, float hi) {
  HostTensor t(DataType::kFloat32, dims);
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(gen);
  return t;
}

double relative_error(const HostTensor& got, const HostTensor& want) {
  const std::vector<double> a = got.to_doubles();
  const std::vector<double> b = want.to_doubles();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  return std::sqrt(diff / norm);
}

Result<ReferenceSet>* ReferenceSetTest::set_ = nullptr;

void ReferenceSetTest::SetUpTestSuite() { set_ = new Result<ReferenceSet>(load_reference_set(CHEXRT_GENERATED_DIR)); }

void ReferenceSetTest::TearDownTestSuite() {
  delete set_;
  set_ = nullptr;
}

const ReferenceSet* ReferenceSetTest::references() {
  if (!set_->ok()) {
    ADD_FAILURE() << set_->status().to_string();
    return nullptr;
  }
  return &set_->value();
}

}  // namespace chexrt::testing
