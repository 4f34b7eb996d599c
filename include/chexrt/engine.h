// Engine: an optimized, ready-to-run network on one backend (reference, CPU or CUDA).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chexrt/heatmap.h"
#include "chexrt/image_input.h"
#include "chexrt/status.h"
#include "chexrt/tensor.h"

namespace chexrt {

struct TensorInfo {
  std::string name;
  DataType dtype = DataType::kFloat32;
  Dims dims;  ///< At the engine's max batch; dim 0 is the batch.
};

/// Benchmark settings that only CUDA engines read. Other engines ignore them, except split > 1,
/// which they refuse (Unsupported) because they cannot honour it.
struct CudaBenchmarkOptions {
  bool use_graphs = true;  ///< Replay one captured CUDA graph per inference.
  int streams = 1;         ///< Concurrent execution contexts.
  /// Run each batch as this many equal sub-batches at once, one per execution context and
  /// stream, and time the whole (compute only; inputs stay on the GPU).
  int split = 1;
};

struct BenchmarkOptions {
  int64_t batch = 1;
  int warmup = 10;
  int iterations = 100;
  bool per_layer = false;  ///< Also time each layer (slower; no CUDA graphs).
  CudaBenchmarkOptions cuda;
};

struct LayerTime {
  std::string name;
  std::string kernel;
  double ms = 0;
};

struct BenchmarkResult {
  std::vector<double> latency_ms;  ///< Per iteration, input copy + compute + output copy.
  std::vector<double> compute_ms;  ///< Per iteration, compute alone (equal to latency on CPUs).
  double h2d_ms = 0;               ///< Median host-to-device copy time (0 on CPUs).
  double d2h_ms = 0;               ///< Median device-to-host copy time (0 on CPUs).
  double throughput = 0;           ///< Images per second over all streams.
  std::vector<LayerTime> layers;   ///< With per_layer.
  std::string notes;               ///< Backend remarks (graphs on/off, clocks, ...).
};

class Engine {
 public:
  virtual ~Engine() = default;

  /// "reference", "cpu-onednn", "cuda".
  virtual std::string backend_name() const = 0;
  virtual const std::vector<TensorInfo>& inputs() const = 0;
  virtual const std::vector<TensorInfo>& outputs() const = 0;
  /// Largest batch (dim 0 of every input) that infer() accepts.
  virtual int64_t max_batch() const = 0;

  /// Runs one inference on host tensors given in the order of inputs(). The batch may be any
  /// size from 1 to max_batch(); outputs come back with the same batch.
  virtual Status infer(const std::vector<HostTensor>& inputs, std::vector<HostTensor>* outputs) = 0;

  /// Runs one inference of a single-input engine whose input is the rows of `parts` one after
  /// another along dim 0, as infer() of their concatenation would: each part float32 (or float16
  /// where accepts_fp16_inputs()) with the input's trailing dims, all of one dtype, together at
  /// most max_batch() rows. For callers that assemble a batch from several requests: the default
  /// gathers the parts into one tensor and calls infer(); GPU engines copy each part straight into
  /// their pinned upload buffer, which spares the host one copy of the whole batch.
  virtual Status infer_concatenated(const std::vector<HostTensor>& parts, std::vector<HostTensor>* outputs);

  /// Preprocesses `images` (8-bit pixels, filtered PNG rows or JPEG files, chexrt/image_input.h)
  /// as `options` say (resize, centre crop or ten-crop, normalize: core/image_preprocess.h, bit for
  /// bit the same on every engine) and runs them. The network must have one input, float32
  /// [N, 3, crop, crop]; the outputs hold samples_per_image(options) rows per image, in order, and
  /// images.size() times that must be at most max_batch(). InvalidArgument naming the image for
  /// malformed images and PNG rows with an unknown filter type; a JPEG that does not decode, or
  /// whose pixels are not the view's size, fails the call with an error naming the image
  /// ("image K: ..."). The default decodes JPEGs, unfilters PNG rows and preprocesses on the host
  /// and calls infer(); GPU engines upload the 8-bit pixels (a quarter of the float32 crops' bytes
  /// for an NIH X-ray, a fortieth for ten-crop) or the filtered rows, and unfilter and preprocess
  /// on the device; where they decode JPEGs on the device they upload the files too.
  virtual Status infer_images(const std::vector<ImageView>& images, const PreprocessOptions& options,
                              std::vector<HostTensor>* outputs);
  /// True when infer_images() preprocesses on the engine's device: callers with images should
  /// then hand over pixels rather than preprocess on the host themselves.
  virtual bool preprocesses_on_device() const { return false; }
  /// True when infer_images() decodes JPEG views (PixelEncoding::kJpeg, jpeg_view()) on the
  /// engine's device: callers with JPEG files should then hand over the files' bytes rather than
  /// decode them. Every engine takes JPEG views; the others decode them on the host.
  virtual bool decodes_jpeg_on_device() const { return false; }
  /// True when infer_images() also unfilters PNG rows on the engine's device: callers decoding
  /// PNGs should then only inflate them and hand over the filtered rows
  /// (PixelEncoding::kPngFiltered), leaving the host the inflating alone.
  virtual bool unfilters_png_on_device() const { return false; }
  /// True when infer() also takes float16 host tensors for its float32 inputs (same dims): GPU
  /// engines upload them as they are, half the bytes, and widen them on the device. Callers
  /// holding float16 data should then pass it as it is rather than widen it on the host.
  virtual bool accepts_fp16_inputs() const { return false; }

  /// Draws class activation heat maps (chexrt/heatmap.h): for each request, the map of class
  /// `class_index` from row `sample` of `features` (float32 [N, C, h, w], the last feature map
  /// after its ReLU) and `weights` (float32 [classes, C], the classifier), drawn over the
  /// request's image into its `out`, or encoded as a PNG into its `png`, with colour opacity up to
  /// `max_alpha`. The bytes are the same on every engine. Safe to call from several threads at
  /// once, and beside infer(). The default draws and encodes on the host; GPU engines upload the
  /// feature rows and images, draw on the device, encode the PNGs there, and copy back the pixels
  /// or the compressed files.
  virtual Status draw_heatmaps(const HostTensor& features, const HostTensor& weights,
                               const std::vector<HeatmapRequest>& requests, float max_alpha = kDefaultHeatmapAlpha);
  /// True when draw_heatmaps() draws on the engine's device, so that callers should prefer it to
  /// drawing on the host themselves.
  virtual bool draws_heatmaps_on_device() const { return false; }
  /// One line per layer: name, kernel (tactic) and precision, for `chexrt inspect`.
  virtual std::string describe_layers() const = 0;

  /// The kernel (tactic) chosen for each node of the optimized graph, in node order; stored in
  /// engine files so that loading skips tactic timing. Empty where the backend has no choices.
  virtual std::vector<std::string> node_tactics() const { return {}; }

  /// Times inference on random inputs. The default times infer() with the host clock; GPU
  /// engines override it to split copies from compute with device events.
  virtual Result<BenchmarkResult> benchmark(const BenchmarkOptions& options);
};

/// The engine's inputs at `batch` (dim 0), float32 ones filled with standard-normal values from
/// `seed`, others zero: what benchmarks run on.
std::vector<HostTensor> random_inputs(const Engine& engine, int64_t batch, unsigned seed = 42);

}  // namespace chexrt
