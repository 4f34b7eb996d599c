// chexrt: the command line. `chexrt <command> --help` explains each command.
#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"chexrt: fast inference for CheXNet-style chest X-ray classifiers (DenseNet-121, 14 findings)"};
  app.set_version_flag("--version", std::string("chexrt ") + CHEXRT_VERSION_STRING);
  app.require_subcommand(1);
  int exit_code = 0;
  chexrt::cli::register_predict_command(app, exit_code);
  chexrt::cli::register_inspect_command(app, exit_code);
  chexrt::cli::register_run_command(app, exit_code);
  chexrt::cli::register_build_command(app, exit_code);
  chexrt::cli::register_bench_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
