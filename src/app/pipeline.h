// Files to findings as one stream, with every stage overlapped:
//
//   decode workers (one per core)      read, decode and preprocess files, in input order,
//        |                             straight into their rows of a batch buffer, no more
//        |                             than `batches_ahead` batches ahead of the engine; with
//        |                             an engine on a GPU they stop at the 8-bit image, for
//        |                             a PNG at its inflated, still filtered rows, or at a
//        |                             JPEG file's header where the GPU decodes JPEGs
//   engine (caller)                    runs each batch's buffer (rows of failed files squeezed
//        |                             out first), then releases the buffer to the decoders;
//        |                             or uploads the 8-bit images (decodes the JPEGs),
//        |                             preprocessed on the GPU
//        |
//   postprocessing (one thread)        findings (the mean over a ten-crop's samples), heat maps
//        |                             (a pool draws them, on the engine's GPU when it has one
//        |                             (Engine::draw_heatmaps), which also encodes PNGs, and
//        |                             encodes the rest and writes them), then `sink`, once per
//        |                             file, in order
//
// Memory stays bounded whatever the number of files: decoded bytes are held under a
// DecodeBudget, `batches_ahead` batch buffers are reused, at most two finished batches wait
// for postprocessing, and results leave through the sink as they come.
// A file that fails (unreadable, not an image, out of memory) is reported in its own result
// and the others go on; an engine failure fails that batch's files and the run goes on.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "app/decode_budget.h"
#include "app/preprocess.h"
#include "chexrt/engine.h"

namespace chexrt::app {

struct PipelineOptions {
  PreprocessOptions preprocess;
  /// Files per engine call; the engine's max batch must hold their samples.
  int64_t images_per_batch = 8;
  /// Decode workers; 0: one per core.
  int decode_threads = 0;
  /// Batch buffers that decoding fills while the engine runs: at most this many batches are
  /// decoded ahead, the one in the engine included (a buffer is reused once the engine is done).
  int batches_ahead = 3;
  int64_t decode_budget_bytes = kDefaultDecodeBudgetBytes;
  /// With an engine that preprocesses on its device (Engine::preprocesses_on_device), decoders
  /// hand it 8-bit images (Engine::infer_images) instead of preprocessing on the host. The
  /// images waiting for the engine are then held whole: at most images_per_batch *
  /// batches_ahead of them (1 MB each for an NIH X-ray; with PNG rows, up to as many buffers
  /// again are kept for the decoders to reuse).
  bool preprocess_on_device = true;
  /// With preprocess_on_device and an engine that also decodes JPEGs on its device
  /// (Engine::decodes_jpeg_on_device), decoders only read JPEG files and check their headers, and
  /// hand the engine the files' bytes (a fifth of the pixels' for a quality-95 NIH X-ray). Not
  /// with heat maps, which need the decoded image on the host. A batch whose decoding on the
  /// device fails is decoded on the host and run again, so that a corrupt file fails alone. For
  /// run_decode_only(): read as if such an engine waited.
  bool jpeg_on_device = true;
  /// With preprocessing on the device and an engine that also unfilters PNG rows there
  /// (Engine::unfilters_png_on_device), decoders only inflate the PNGs that the libdeflate path
  /// takes and hand over their filtered rows, about half a decode's work. Not with heat maps,
  /// which need the pixels on the host. For run_decode_only(): decode as if such an engine waited.
  bool unfilter_png_on_device = true;

  /// Heat maps, when `heatmap_dir` is set: the engine's second output is then the last feature
  /// map [N, C, h, w] and `heatmap_weights` the classifier's [classes, C] weights. The map of
  /// `heatmap_class` (each image's top finding when -1) is written per image, at most
  /// `heatmap_max_side` pixels on its longer side.
  std::string heatmap_dir;
  HostTensor heatmap_weights;
  int heatmap_class = -1;
  int heatmap_max_side = 1024;
  ImageFormat heatmap_format = ImageFormat::kPng;  ///< kPng or kJpeg
  /// With an engine that draws heat maps on its device (Engine::draws_heatmaps_on_device), the
  /// pool has it draw them, and encode PNGs (the pool then only writes them; JPEGs it encodes);
  /// else the pool draws and encodes them on the host.
  bool heatmaps_on_device = true;
};

/// One file's outcome.
struct FileResult {
  size_t index = 0;  ///< position in the input list
  std::string path;
  Status status;                     ///< ok, or why the file has no findings
  std::vector<float> probabilities;  ///< kNumFindings values when ok
  std::string heatmap;               ///< the heat map written, if any
  Status heatmap_status;             ///< why no heat map was written, when one was asked for
};

/// Where the time went: wall time, and the busy time of each stage (summed over its threads).
struct PipelineStats {
  size_t files = 0;
  size_t failed = 0;
  double wall_s = 0;
  double decode_s = 0;       ///< reading + decoding (+ preprocessing on the host), all workers
  double assemble_s = 0;     ///< squeezing out the rows of failed files
  double wait_decode_s = 0;  ///< the engine waiting for decoded batches
  double infer_s = 0;        ///< engine calls, host-to-device copies included
  double postprocess_s = 0;  ///< findings, heat maps and the sink
  /// Drawing heat maps (waiting for the device included), all threads; on the device, a PNG's
  /// encoding is part of it.
  double heatmap_draw_s = 0;
  double heatmap_encode_s = 0;  ///< encoding (on the host) and writing them, all threads
  int decode_threads = 0;
  bool preprocess_on_device = false;      ///< the engine preprocessed (infer_s includes it)
  bool jpeg_on_device = false;            ///< the engine decoded the JPEGs (infer_s includes it)
  size_t jpeg_host_retries = 0;           ///< batches run again after their JPEGs failed on the device
  bool png_unfiltered_on_device = false;  ///< decoders inflated PNGs only; the engine unfiltered
  size_t png_rows_files = 0;              ///< files handed over as filtered PNG rows
  bool heatmaps_on_device = false;        ///< the engine drew the heat maps
  int64_t decode_peak_bytes = 0;
  double images_per_second() const { return wall_s > 0 ? files / wall_s : 0; }
};

/// Called once per file, in input order, from one thread. A non-ok Status stops the run (after
/// the batches in flight) and becomes run_pipeline's result.
using ResultSink = std::function<Status(FileResult&&)>;

/// Runs `files` through `engine`: infer() and infer_images() from the calling thread only,
/// draw_heatmaps() from the postprocessing pool. Fails as a whole for invalid options or when the
/// sink fails; per-file errors land in the results.
Result<PipelineStats> run_pipeline(const std::vector<std::string>& files, Engine& engine,
                                   const PipelineOptions& options, const ResultSink& sink);

/// The pipeline's first stage alone, for measuring it: reads, decodes and (unless
/// options.preprocess_on_device) preprocesses `files` on `options.decode_threads` workers and
/// drops the results. With options.preprocess_on_device and jpeg_on_device, JPEG files are only
/// read and their headers checked, as for an engine that decodes them; with unfilter_png_on_device,
/// PNGs are inflated only, as for an engine that unfilters them. The stats count the files that
/// failed; wall_s and decode_s say how fast the rest went.
Result<PipelineStats> run_decode_only(const std::vector<std::string>& files, const PipelineOptions& options);

}  // namespace chexrt::app
