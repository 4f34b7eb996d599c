// chexrt: the command line. `chexrt <command> --help` explains each command; the exit codes are
// the same for all of them (cli_options.h, README).
#include <cstdio>
#include <exception>
#include <new>

#include "cli_options.h"
#include "commands.h"

int main(int argc, char** argv) {
  using namespace chexrt::cli;
  CLI::App app{"chexrt: fast inference for CheXNet-style chest X-ray classifiers (DenseNet-121, 14 findings)"};
  app.set_version_flag("--version", std::string("chexrt ") + CHEXRT_VERSION_STRING);
  app.require_subcommand(1);
  app.footer(kExitCodesHelp);
  int exit_code = kExitOk;
  register_predict_command(app, exit_code);
  register_inspect_command(app, exit_code);
  register_run_command(app, exit_code);
  register_build_command(app, exit_code);
  register_bench_command(app, exit_code);
  // The commands run inside parse(), so these also catch what escapes a command.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version come here too, with CLI11's exit code 0.
    return app.exit(e) == 0 ? kExitOk : kExitUsageError;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "chexrt: error: out of memory (try a smaller --batch, or free memory)\n");
    return kExitRuntimeError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chexrt: error: %s\n", e.what());
    return kExitRuntimeError;
  }
  return exit_code;
}
