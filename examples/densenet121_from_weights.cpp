// Builds DenseNet-121/CheXNet layer by layer from a safetensors weights file (torchvision
// state-dict names), without any ONNX file, and runs it on one input.
//
//   densenet121_from_weights WEIGHTS.safetensors [--device reference|cpu|cuda]
//
// The input is a fixed pseudo-random image; the program prints the 14 probabilities.
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "chexrt/builder.h"
#include "densenet121_network.h"
#include "safetensors.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s WEIGHTS.safetensors [--device reference|cpu|cuda]\n", argv[0]);
    return 2;
  }
  std::string device_name = "auto";
  if (argc >= 4 && std::strcmp(argv[2], "--device") == 0) device_name = argv[3];

  auto weights = chexrt::examples::read_safetensors(argv[1]);
  if (!weights.ok()) {
    std::fprintf(stderr, "error: %s\n", weights.status().to_string().c_str());
    return 1;
  }
  auto lookup = [&](const std::string& key) -> chexrt::Result<chexrt::HostTensor> {
    auto it = weights->find(key);
    if (it == weights->end()) return chexrt::not_found(std::string(argv[1]) + " has no tensor '" + key + "'");
    return it->second;
  };
  auto network = chexrt::examples::build_densenet121_chexnet(lookup, 1);
  if (!network.ok()) {
    std::fprintf(stderr, "error: %s\n", network.status().to_string().c_str());
    return 1;
  }
  std::printf("built DenseNet-121/CheXNet: %d layers, %.2f M parameters\n", network->num_layers(),
              network->num_parameters() / 1e6);

  chexrt::BuildOptions options;
  auto device = chexrt::parse_device(device_name);
  if (!device.ok()) {
    std::fprintf(stderr, "error: %s\n", device.status().to_string().c_str());
    return 2;
  }
  options.device = *device;
  auto engine = chexrt::build_engine(std::move(*network), options);
  if (!engine.ok()) {
    std::fprintf(stderr, "error: %s\n", engine.status().to_string().c_str());
    return 1;
  }
  chexrt::HostTensor image(chexrt::DataType::kFloat32, {1, 3, 224, 224});
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (int64_t i = 0; i < image.numel(); ++i) image.data<float>()[i] = normal(rng);
  std::vector<chexrt::HostTensor> outputs;
  chexrt::Status status = (*engine)->infer({image}, &outputs);
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s\n", status.to_string().c_str());
    return 1;
  }
  std::printf("%s engine, probabilities:", (*engine)->backend_name().c_str());
  for (int64_t k = 0; k < outputs[0].numel(); ++k) std::printf(" %.5f", outputs[0].data<float>()[k]);
  std::printf("\n");
  return 0;
}
