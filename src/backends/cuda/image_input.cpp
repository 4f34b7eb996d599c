#include "backends/cuda/image_input.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <utility>

#include "backends/cuda/kernels/image_preprocess.cuh"
#include "backends/cuda/kernels/png_unfilter.cuh"
#include "core/image_preprocess.h"
#include "core/jpeg_decode.h"
#include "core/png_rows.h"

namespace chexrt::cuda {
namespace {

size_t align16(size_t n) { return (n + 15) & ~size_t{15}; }

// Appends the bank for in -> out to `tables` (once per size pair) and returns its index.
int add_bank(int in, int out, std::map<std::pair<int, int>, std::pair<int, int>>& made, std::vector<int32_t>& tables,
             int* taps) {
  auto it = made.find({in, out});
  if (it == made.end()) {
    const preprocessing::FilterBank bank = preprocessing::bilinear_filter_bank(in, out);
    const int at = static_cast<int>(tables.size());
    tables.insert(tables.end(), bank.first.begin(), bank.first.end());
    tables.insert(tables.end(), bank.count.begin(), bank.count.end());
    tables.insert(tables.end(), bank.weights.begin(), bank.weights.end());
    it = made.emplace(std::make_pair(in, out), std::make_pair(at, bank.taps)).first;
  }
  *taps = it->second.second;
  return it->second.first;
}

// Grows `buffer` to at least `bytes`, by half again to limit reallocations.
template <class Buffer>
Status grow(Buffer& buffer, size_t bytes, const char* what) {
  if (buffer.bytes() >= bytes) return Status::ok_status();
  return buffer.allocate(std::max(bytes, buffer.bytes() + buffer.bytes() / 2), what);
}

}  // namespace

bool ImagePreprocessor::supports(const std::vector<ImageView>& images) {
  return std::all_of(images.begin(), images.end(), [](const ImageView& image) {
    return static_cast<int64_t>(image.width) * image.channels <= kMaxPreprocessRowBytes;
  });
}

Status ImagePreprocessor::enqueue(const std::vector<ImageView>& images, const PreprocessOptions& options, float* input,
                                  cudaStream_t stream, JpegDecoder* jpeg) {
  const int n = static_cast<int>(images.size());
  std::vector<PreprocessImage> descs(n);
  std::vector<PngUnfilterImage> pngs;
  std::vector<int32_t> tables;
  std::map<std::pair<int, int>, std::pair<int, int>> banks;
  const int samples = samples_per_image(options);
  // Each image's bytes as given (8-bit pixels or filtered PNG rows) are staged and uploaded; the
  // 8-bit samples of PNG rows are written on the device only, into `slots`. A JPEG gets room for
  // its pixels among the staged bytes: decoded there on the device, or on the host and uploaded
  // from the same place in the staging. Offsets here are relative to their region; the regions'
  // starts are added once all sizes are known.
  std::vector<size_t> staged_at(n);
  size_t staged_bytes = 0, slot_bytes = 0, carry_bytes = 0, narrow_bytes = 0;
  int max_rows = 0;
  for (int i = 0; i < n; ++i) {
    const ImageView& image = images[i];
    CHEXRT_ASSIGN_OR_RETURN(preprocessing::SamplePlan plan,
                            preprocessing::plan_samples(image.width, image.height, image.channels, options));
    PreprocessImage& d = descs[i];
    d.width = image.width, d.height = image.height, d.channels = image.channels;
    d.resized_width = plan.resized_width, d.resized_height = plan.resized_height;
    d.column_bank = add_bank(image.width, plan.resized_width, banks, tables, &d.column_taps);
    d.row_bank = add_bank(image.height, plan.resized_height, banks, tables, &d.row_taps);
    // Only the input rows some output row reads go through the horizontal pass.
    const int32_t* first = &tables[d.row_bank];
    const int32_t* count = first + plan.resized_height;
    d.first_row = first[0];
    d.rows = first[plan.resized_height - 1] + count[plan.resized_height - 1] - d.first_row;
    d.first_sample = i * samples;
    d.num_crops = static_cast<int>(plan.crops.size());
    for (int k = 0; k < d.num_crops; ++k) {
      d.crops[k] = {plan.crops[k].left, plan.crops[k].top, plan.crops[k].mirrored ? 1 : 0};
    }
    staged_at[i] = staged_bytes;
    if (is_jpeg(image)) {
      // A JPEG decoded on the device gets room for whole MCU rows below its last.
      const int rows_room = jpeg != nullptr ? JpegDecoder::padded_rows(image) : image.height;
      staged_bytes = align16(staged_bytes + static_cast<size_t>(image.width) * rows_room * image.channels);
    } else {
      staged_bytes = align16(staged_bytes + image_bytes(image));
    }
    const size_t pixel_bytes = static_cast<size_t>(image.width) * image.height * image.channels;
    if (image.encoding == PixelEncoding::kPngFiltered) {
      PngUnfilterImage p;
      p.rows = static_cast<long long>(staged_at[i]);
      p.pixels = static_cast<long long>(slot_bytes);
      p.width = image.width, p.height = image.height;
      p.bytes_per_pixel = png_bytes_per_pixel(image.png);
      p.bit_depth = image.png.bit_depth;
      p.channels = image.channels;
      p.index = i;
      slot_bytes = align16(slot_bytes + pixel_bytes);
      if (image.height > kPngUnfilterRows) {
        p.carry = static_cast<long long>(carry_bytes);
        carry_bytes = align16(carry_bytes + static_cast<size_t>(image.width) * p.bytes_per_pixel);
      }
      pngs.push_back(p);
    }
    d.narrow = static_cast<long long>(narrow_bytes);
    narrow_bytes = align16(narrow_bytes + static_cast<size_t>(d.rows) * d.resized_width * d.channels);
    max_rows = std::max(max_rows, d.rows);
  }
  const preprocessing::NormalizeTable normalize = preprocessing::normalize_table(options);

  // The upload: descriptors, banks and the normalization table, then the images' bytes; beyond
  // what is uploaded, on the device alone: the unfiltered samples, carry rows and the error report.
  const size_t descs_at = 0;
  const size_t pngs_at = align16(descs_at + descs.size() * sizeof(PreprocessImage));
  const size_t tables_at = align16(pngs_at + pngs.size() * sizeof(PngUnfilterImage));
  const size_t normalize_at = align16(tables_at + tables.size() * sizeof(int32_t));
  const size_t data_at = align16(normalize_at + sizeof(normalize));
  const size_t staged_total = data_at + staged_bytes;
  const size_t slots_at = align16(staged_total);
  const size_t carry_at = slots_at + slot_bytes;
  const size_t error_at = align16(carry_at + carry_bytes);
  constexpr size_t kErrorBytes = 3 * sizeof(int);
  const size_t device_total = error_at + kErrorBytes;
  size_t next_png = 0;
  for (int i = 0; i < n; ++i) {
    if (images[i].encoding == PixelEncoding::kPngFiltered) {
      PngUnfilterImage& p = pngs[next_png++];
      p.rows += static_cast<long long>(data_at);
      p.pixels += static_cast<long long>(slots_at);
      p.carry += static_cast<long long>(carry_at);
      descs[i].pixels = p.pixels;
    } else {
      descs[i].pixels = static_cast<long long>(data_at + staged_at[i]);
    }
  }
  CHEXRT_RETURN_IF_ERROR(grow(staging_, staged_total, "pinned image staging"));
  CHEXRT_RETURN_IF_ERROR(grow(upload_, device_total, "image upload"));
  CHEXRT_RETURN_IF_ERROR(grow(narrow_, std::max<size_t>(narrow_bytes, 1), "resize buffer"));
  CHEXRT_RETURN_IF_ERROR(grow(error_host_, kErrorBytes, "pinned unfilter report"));
  std::memset(error_host_.get(), 0, kErrorBytes);
  auto* host = static_cast<uint8_t*>(staging_.get());
  auto* dev = upload_.as<uint8_t>();
  std::memcpy(host + descs_at, descs.data(), descs.size() * sizeof(PreprocessImage));
  std::memcpy(host + pngs_at, pngs.data(), pngs.size() * sizeof(PngUnfilterImage));
  std::memcpy(host + tables_at, tables.data(), tables.size() * sizeof(int32_t));
  std::memcpy(host + normalize_at, normalize.data(), sizeof(normalize));
  CHEXRT_CUDA_TRY(cudaMemcpyAsync(dev, host, data_at, cudaMemcpyHostToDevice, stream), "uploading image plans");
  // Images in chunks of about 16 MB: the copy engine moves one while the host packs the next. A
  // chunk never spans a JPEG's room, which its decoder fills on the device.
  constexpr size_t kChunk = size_t{16} << 20;
  size_t chunk_start = data_at, chunk_end = data_at;
  auto flush = [&]() -> Status {
    if (chunk_end > chunk_start) {
      CHEXRT_CUDA_TRY(cudaMemcpyAsync(dev + chunk_start, host + chunk_start, chunk_end - chunk_start,
                                      cudaMemcpyHostToDevice, stream),
                      "uploading images");
    }
    chunk_start = chunk_end;
    return Status::ok_status();
  };
  std::vector<size_t> jpegs;  // positions of the JPEG views
  for (int i = 0; i < n; ++i) {
    const size_t at = data_at + staged_at[i];
    if (is_jpeg(images[i])) {
      CHEXRT_RETURN_IF_ERROR(flush());
      jpegs.push_back(i);
      continue;
    }
    if (chunk_end == chunk_start) chunk_start = at;
    const size_t bytes = image_bytes(images[i]);
    std::memcpy(host + at, images[i].pixels, bytes);
    chunk_end = at + bytes;
    if (chunk_end - chunk_start >= kChunk) CHEXRT_RETURN_IF_ERROR(flush());
  }
  CHEXRT_RETURN_IF_ERROR(flush());

  if (!jpegs.empty()) {
    std::vector<size_t> on_host;  // positions in `jpegs` left to the host
    if (jpeg != nullptr) {
      std::vector<ImageView> views;
      std::vector<uint8_t*> destinations;
      for (size_t i : jpegs) {
        views.push_back(images[i]);
        destinations.push_back(dev + data_at + staged_at[i]);
      }
      CHEXRT_ASSIGN_OR_RETURN(on_host, jpeg->enqueue(views, destinations, stream));
    } else {
      for (size_t k = 0; k < jpegs.size(); ++k) on_host.push_back(k);
    }
    // Decoded here while the GPU decodes the others; each uploaded from its room in the staging.
    for (size_t k : on_host) {
      const size_t i = jpegs[k];
      Result<Image8> decoded = jpeg::decode_view(images[i]);
      if (!decoded.ok()) return decoded.status().with_context("image " + std::to_string(i));
      const size_t at = data_at + staged_at[i];
      std::memcpy(host + at, decoded->pixels.data(), decoded->pixels.size());
      CHEXRT_CUDA_TRY(cudaMemcpyAsync(dev + at, host + at, decoded->pixels.size(), cudaMemcpyHostToDevice, stream),
                      "uploading images");
    }
  }
  if (!pngs.empty()) {
    int* error = reinterpret_cast<int*>(dev + error_at);
    CHEXRT_CUDA_TRY(cudaMemsetAsync(error, 0, kErrorBytes, stream), "clearing the unfilter report");
    CHEXRT_CUDA_TRY(launch_png_unfilter(dev, reinterpret_cast<const PngUnfilterImage*>(dev + pngs_at),
                                        static_cast<int>(pngs.size()), error, stream),
                    "unfiltering PNG rows on the GPU");
    CHEXRT_CUDA_TRY(cudaMemcpyAsync(error_host_.get(), error, kErrorBytes, cudaMemcpyDeviceToHost, stream),
                    "reading the unfilter report");
  }
  int max_crops = 0;
  for (const PreprocessImage& d : descs) max_crops = std::max(max_crops, d.num_crops);
  return check_cuda(launch_image_preprocess(dev, reinterpret_cast<const PreprocessImage*>(dev + descs_at),
                                            reinterpret_cast<const int32_t*>(dev + tables_at),
                                            reinterpret_cast<const float*>(dev + normalize_at), n, max_rows, max_crops,
                                            options.crop_size, narrow_.as<uint8_t>(), input, stream),
                    "preprocessing images on the GPU");
}

Status ImagePreprocessor::unfilter_status() const {
  if (error_host_.get() == nullptr) return Status::ok_status();
  const int* report = static_cast<const int*>(error_host_.get());
  if (report[0] == 0) return Status::ok_status();
  return invalid_argument("infer_images: image " + std::to_string(report[0] - 1) + ": " +
                          png_rows::unknown_filter_message(report[2], report[1]));
}

}  // namespace chexrt::cuda
