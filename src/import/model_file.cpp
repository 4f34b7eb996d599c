#include "import/model_file.h"

#include <fstream>
#include <sstream>

namespace chexrt::import {

Result<std::string> read_model_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path + ": cannot open");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) return io_error(path + ": read failed");
  return bytes.str();
}

}  // namespace chexrt::import
