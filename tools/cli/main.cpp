// chexrt: the command line. `chexrt <command> --help` explains each command; the exit codes are
// the same for all of them (cli_options.h, README).
#include <cstdio>  // first: it defines __GLIBC__ where glibc is the C library
#include <exception>
#include <new>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "cli_options.h"
#include "commands.h"

namespace {

// Decoding allocates and frees megabyte buffers for every image (file bytes, pixels, tensors).
// glibc hands blocks above 128 KiB back to the kernel (mmap, and trimming the heap top), so
// every image faults its pages in again and has them cleared: a fifth of a PNG decode on one
// thread. Blocks up to 16 MiB stay in the heap, and each arena keeps up to 64 MiB free; larger
// blocks (huge images) still go back at once. Measured in docs/PERF.md.
void keep_image_buffers_in_the_heap() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  using namespace chexrt::cli;
  keep_image_buffers_in_the_heap();
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
  register_perf_command(app, exit_code);
  register_serve_command(app, exit_code);
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
