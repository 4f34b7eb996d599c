// From command-line paths to a preprocessed input batch: directory expansion, then decoding
// and preprocessing on a small thread pool. A file that fails is reported and skipped; the
// others still make the batch.
#pragma once

#include <string>
#include <vector>

#include "app/image_io.h"
#include "app/preprocess.h"
#include "chexrt/tensor.h"

namespace chexrt::app {

/// Expands files and directories into image files. A named file is taken whatever its name
/// (its bytes decide the format). A directory is searched recursively, in sorted order, for
/// .png .jpg .jpeg .dcm .dicom files (any case) and for extension-less files that start like
/// DICOM ("DICM" at offset 128). Arguments keep their order; NotFound for a path that does
/// not exist.
Result<std::vector<std::string>> expand_image_paths(const std::vector<std::string>& paths);

/// One input file's outcome.
struct BatchItem {
  std::string path;
  Status status;              ///< ok, or why this file is not in the batch
  int64_t first_sample = -1;  ///< its first row in ImageBatch::input when ok
  Image image;                ///< the decoded image, when LoadOptions::keep_images (for heat maps)
};

struct ImageBatch {
  /// float32 [num_ok * samples_per_image, 3, crop, crop]; empty when no file loaded.
  HostTensor input;
  int samples_per_image = 1;
  std::vector<BatchItem> items;  ///< one per input path, in input order
  int64_t num_ok() const;
};

struct LoadOptions {
  PreprocessOptions preprocess;
  int num_threads = 4;
  bool keep_images = false;
};

/// Decodes and preprocesses `paths`. Fails as a whole only for invalid options; per-file
/// errors land in the items.
Result<ImageBatch> load_image_batch(const std::vector<std::string>& paths, const LoadOptions& options);

}  // namespace chexrt::app
