// From command-line paths to a preprocessed input batch: directory expansion, then decoding
// and preprocessing on a small thread pool. A file that fails is reported and skipped; the
// others still make the batch.
#pragma once

#include <string>
#include <vector>

#include "app/decode_budget.h"
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
  /// When LoadOptions::keep_images (for heat maps): the decoded image, scaled down to at most
  /// LoadOptions::kept_image_max_side pixels on its longer side, and where the (centre) crop
  /// lies in it (crop_region() of the full image, in this copy's pixels).
  Image8 image;
  Region crop_region;
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
  int kept_image_max_side = 1024;
  /// Bounds the bytes that decoding holds at once across the threads; null: a budget of
  /// kDefaultDecodeBudgetBytes for this call alone. Share one across calls to bound them all.
  DecodeBudget* budget = nullptr;
  /// decode_image_file() for an engine that unfilters PNG rows on its device
  /// (Engine::unfilters_png_on_device): PNGs that the libdeflate path takes are inflated only and
  /// handed over as filtered rows. Not with keep_images (heat maps need the pixels on the host).
  bool png_rows = false;
  /// decode_image_file() for an engine that decodes JPEGs on its device
  /// (Engine::decodes_jpeg_on_device): JPEG files are only read and their headers checked
  /// (read_image_info), and handed over whole. Not with keep_images.
  bool jpeg_files = false;
};

/// A file decoded for Engine::infer_images(): its 8-bit pixels, a PNG's filtered rows that the
/// engine unfilters (LoadOptions::png_rows), or a JPEG file that the engine decodes
/// (LoadOptions::jpeg_files). `encoding` says which.
struct EngineImage {
  PixelEncoding encoding = PixelEncoding::kEight;
  /// kEight: the image. Otherwise the width, height and channels of its 8-bit samples alone (no
  /// pixels).
  Image8 pixels;
  /// kPngFiltered: the filtered rows; kJpeg: the file. Empty for kEight.
  std::vector<uint8_t> bytes;
  PngRowFormat png_format;  ///< kPngFiltered only
  bool is_png_rows() const { return encoding == PixelEncoding::kPngFiltered; }
  bool is_jpeg() const { return encoding == PixelEncoding::kJpeg; }
  ImageView view() const;
};

/// One file: read, decoded under `budget`, preprocessed into rows [first, first + samples) of
/// `batch` (float32 [N, 3, crop, crop]), and with options.keep_images the scaled-down image and
/// crop region into `item`. Threads may fill different rows of one batch at once. Never throws:
/// an allocation that fails is this file's error (RuntimeError "out of memory", naming it).
Status load_image_file(const std::string& path, const LoadOptions& options, DecodeBudget& budget, HostTensor* batch,
                       int64_t first, BatchItem* item);

/// load_image_file() without the preprocessing, for engines that preprocess on their device:
/// the full-size 8-bit image (and with options.keep_images the scaled-down copy and crop region
/// in `item`); with options.png_rows a PNG's filtered rows, inflated into `rows_buffer` (its
/// storage reused: a caller may hand back the buffers of images it is done with); with
/// options.jpeg_files a JPEG file's bytes, its header checked. A PNG that the fast path does not
/// take, or that it refuses, is decoded in full as without png_rows: the same files are accepted,
/// with the same errors. The budget bounds the decoding only; the caller bounds the images it
/// keeps.
Result<EngineImage> decode_image_file(const std::string& path, const LoadOptions& options, DecodeBudget& budget,
                                      BatchItem* item, std::vector<uint8_t> rows_buffer = {});

/// Decodes the JPEG file `image` holds (kJpeg), on the host, into its pixels (kEight) and lets
/// the bytes go: what a batch falls back to when the engine's decoding fails. An error names
/// `path`.
Status decode_held_jpeg(const std::string& path, DecodeBudget& budget, EngineImage* image);

/// Moves the rows of the items that loaded (status ok) to the front of `batch`, in order, sets
/// their first_sample, and returns the batch seen as those rows alone (no copy when none
/// failed). Item k's rows must be [k * samples, (k + 1) * samples) before.
Result<HostTensor> compact_batch(HostTensor batch, std::vector<BatchItem>& items, int samples);

/// Decodes and preprocesses `paths`. Fails as a whole only for invalid options; per-file
/// errors land in the items (an image that cannot be allocated too: ResourceExhausted is
/// reported as a runtime error naming the file, and the other files still load).
Result<ImageBatch> load_image_batch(const std::vector<std::string>& paths, const LoadOptions& options);

}  // namespace chexrt::app
