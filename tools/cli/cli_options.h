// What every command shares on its command line: the exit codes, validators with readable
// messages, and the checks of output paths that run before any work starts. The --device and
// --precision help comes from the backend registry (src/runtime/backend_registry.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "chexrt/status.h"

namespace chexrt::cli {

/// chexrt's exit codes, the same for every command (README, "Exit codes").
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;      ///< the work failed: a model, engine, file system or device error
inline constexpr int kExitUsageError = 2;        ///< bad options or arguments, found before any work started
inline constexpr int kExitSomeInputsFailed = 3;  ///< `predict`: some images could not be read; the others completed

/// The table printed at the end of `chexrt --help`.
extern const char* const kExitCodesHelp;

/// `text` as a whole integer of at least `minimum`; nothing when it is not one.
std::optional<int64_t> parse_integer(const std::string& text, int64_t minimum);

/// `separator`-separated integers of at least `minimum` ("1,32,256", "1:8:8"); InvalidArgument
/// naming `flag` and the item otherwise.
Result<std::vector<int64_t>> parse_integer_list(const std::string& flag, const std::string& text, int64_t minimum,
                                                char separator = ',');

/// Integer validators whose messages name the rule, e.g. "must be a positive integer, not '0'".
CLI::Validator positive_integer();
CLI::Validator non_negative_integer();
/// A number (not only an integer) of 0 or more.
CLI::Validator non_negative_number();

/// InvalidArgument unless `path` can be written atomically: its folder exists and is writable,
/// and `path` itself is not a folder. `flag` names the option in the message.
Status check_output_file(const std::string& flag, const std::string& path);

/// Creates `path` (and its parents) if needed; InvalidArgument unless it is a writable folder.
Status prepare_output_dir(const std::string& flag, const std::string& path);

/// Prints "chexrt: error: <status>" to stderr and returns the exit code for it: usage error for
/// InvalidArgument, else runtime error.
int report_error(const Status& status);

/// The same, always as a usage error (for problems with what the command line named).
int report_usage_error(const Status& status);

}  // namespace chexrt::cli
