// The `chexrt` subcommands. Each registers its options on the CLI11 app and returns the
// callback's exit code through `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace chexrt::cli {

void register_predict_command(CLI::App& app, int& exit_code);
void register_inspect_command(CLI::App& app, int& exit_code);
void register_run_command(CLI::App& app, int& exit_code);
void register_build_command(CLI::App& app, int& exit_code);
void register_bench_command(CLI::App& app, int& exit_code);
void register_perf_command(CLI::App& app, int& exit_code);
void register_serve_command(CLI::App& app, int& exit_code);

}  // namespace chexrt::cli
