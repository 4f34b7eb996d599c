#include "densenet_random.h"

#include <cmath>
#include <cstdio>
#include <functional>

namespace chexrt::gputest {

HostTensor random_normal(const Dims& dims, std::mt19937& rng, float stddev, float mean) {
  HostTensor t(DataType::kFloat32, dims);
  std::normal_distribution<float> d(mean, stddev);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

HostTensor random_uniform(const Dims& dims, std::mt19937& rng, float lo, float hi) {
  HostTensor t(DataType::kFloat32, dims);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

Result<HostTensor> densenet121_random_weight(const std::string& key, uint32_t seed) {
  static const int64_t kBlockIn[] = {64, 128, 256, 512};
  static const int64_t kLayers[] = {6, 12, 24, 16};
  std::mt19937 rng(seed ^ static_cast<uint32_t>(std::hash<std::string>()(key)));
  const auto ends_with = [&](const std::string& s) {
    return key.size() >= s.size() && key.compare(key.size() - s.size(), s.size(), s) == 0;
  };
  const auto conv = [&](int64_t o, int64_t c, int64_t k) {
    return random_normal({o, c, k, k}, rng, std::sqrt(2.f / static_cast<float>(c * k * k)));
  };
  const auto norm = [&](int64_t c) -> HostTensor {
    if (ends_with(".weight") || ends_with(".running_var")) return random_uniform({c}, rng, 0.5f, 1.5f);
    return random_uniform({c}, rng, -0.2f, 0.2f);
  };
  int b = 0, l = 0;
  char rest[64] = {0};
  if (std::sscanf(key.c_str(), "features.denseblock%d.denselayer%d.%63s", &b, &l, rest) == 3 && b >= 1 && b <= 4) {
    const int64_t cin = kBlockIn[b - 1] + 32 * (l - 1);
    const std::string r = rest;
    if (r == "conv1.weight") return conv(128, cin, 1);
    if (r == "conv2.weight") return conv(32, 128, 3);
    if (r.rfind("norm1.", 0) == 0) return norm(cin);
    if (r.rfind("norm2.", 0) == 0) return norm(128);
  } else if (std::sscanf(key.c_str(), "features.transition%d.%63s", &b, rest) == 2 && b >= 1 && b <= 3) {
    const int64_t c = kBlockIn[b - 1] + 32 * kLayers[b - 1];
    const std::string r = rest;
    if (r == "conv.weight") return conv(c / 2, c, 1);
    if (r.rfind("norm.", 0) == 0) return norm(c);
  } else if (key == "features.conv0.weight") {
    return conv(64, 3, 7);
  } else if (key.rfind("features.norm0.", 0) == 0) {
    return norm(64);
  } else if (key.rfind("features.norm5.", 0) == 0) {
    return norm(1024);
  } else if (key == "classifier.0.weight") {
    return random_normal({14, 1024}, rng, 2.f / 32.f);
  } else if (key == "classifier.0.bias") {
    return random_uniform({14}, rng, -0.5f, 0.5f);
  }
  return not_found("no DenseNet-121 parameter '" + key + "'");
}

}  // namespace chexrt::gputest
