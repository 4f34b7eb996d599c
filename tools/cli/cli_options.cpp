#include "cli_options.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace chexrt::cli {

namespace fs = std::filesystem;

const char* const kExitCodesHelp =
    "Exit codes: 0 ok; 1 runtime error (model, engine, file system, device, out of memory); "
    "2 usage error (bad options or arguments, found before any work starts); "
    "3 predict: some images could not be read (each is named on stderr, the others completed).";

std::optional<int64_t> parse_integer(const std::string& text, int64_t minimum) {
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (...) {
    return std::nullopt;
  }
  if (used != text.size() || value < minimum) return std::nullopt;
  return value;
}

Result<std::vector<int64_t>> parse_integer_list(const std::string& flag, const std::string& text, int64_t minimum,
                                                char separator) {
  std::vector<int64_t> values;
  size_t begin = 0;
  while (true) {
    const size_t end = text.find(separator, begin);
    const std::string item = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    const std::optional<int64_t> value = parse_integer(item, minimum);
    if (!value) {
      return invalid_argument(flag + " " + text + ": '" + item + "' is not an integer of " + std::to_string(minimum) +
                              " or more");
    }
    values.push_back(*value);
    if (end == std::string::npos) return values;
    begin = end + 1;
  }
}

namespace {

CLI::Validator integer_at_least(int64_t minimum, const std::string& rule) {
  return CLI::Validator(
      [minimum, rule](std::string& text) -> std::string {
        return parse_integer(text, minimum) ? "" : "must be " + rule + ", not '" + text + "'";
      },
      rule == "a positive integer" ? "POSITIVE" : "NON-NEGATIVE");
}

}  // namespace

CLI::Validator positive_integer() { return integer_at_least(1, "a positive integer"); }
CLI::Validator non_negative_integer() { return integer_at_least(0, "an integer of 0 or more"); }

CLI::Validator non_negative_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        size_t used = 0;
        double value = -1;
        try {
          value = std::stod(text, &used);
        } catch (...) {
          used = 0;
        }
        if (used == 0 || used != text.size() || !(value >= 0)) {
          return "must be a number of 0 or more, not '" + text + "'";
        }
        return "";
      },
      "NON-NEGATIVE");
}

Status check_output_file(const std::string& flag, const std::string& path) {
  if (path.empty()) return invalid_argument(flag + ": empty path");
  std::error_code ec;
  if (fs::is_directory(path, ec)) return invalid_argument(flag + " " + path + ": is a folder, not a file");
  const fs::path parent = fs::absolute(path, ec).parent_path();
  if (!fs::is_directory(parent, ec)) {
    return invalid_argument(flag + " " + path + ": the folder " + parent.string() + " does not exist");
  }
  if (::access(parent.c_str(), W_OK) != 0) {
    return invalid_argument(flag + " " + path + ": the folder " + parent.string() + " is not writable");
  }
  return Status::ok_status();
}

Status prepare_output_dir(const std::string& flag, const std::string& path) {
  if (path.empty()) return invalid_argument(flag + ": empty path");
  std::error_code ec;
  fs::create_directories(path, ec);
  if (!fs::is_directory(path)) {
    return invalid_argument(flag + " " + path + ": cannot create the folder" + (ec ? ": " + ec.message() : ""));
  }
  if (::access(path.c_str(), W_OK) != 0) return invalid_argument(flag + " " + path + ": the folder is not writable");
  return Status::ok_status();
}

int report_error(const Status& status) {
  std::fprintf(stderr, "chexrt: error: %s\n", status.to_string().c_str());
  return status.code() == StatusCode::kInvalidArgument ? kExitUsageError : kExitRuntimeError;
}

int report_usage_error(const Status& status) {
  std::fprintf(stderr, "chexrt: error: %s\n", status.to_string().c_str());
  return kExitUsageError;
}

}  // namespace chexrt::cli
