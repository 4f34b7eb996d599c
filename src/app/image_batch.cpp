#include "app/image_batch.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <thread>

#include "app/codecs.h"

namespace chexrt::app {
namespace fs = std::filesystem;
namespace {

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

bool has_dicom_preamble(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char head[132];
  if (!in.read(head, sizeof(head))) return false;
  return std::memcmp(head + 128, "DICM", 4) == 0;
}

bool is_image_file(const fs::directory_entry& entry) {
  std::error_code ec;
  if (!entry.is_regular_file(ec)) return false;
  const std::string ext = lower(entry.path().extension().string());
  if (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".dcm" || ext == ".dicom") return true;
  return ext.empty() && has_dicom_preamble(entry.path());
}

// Reads a file and reserves its decoding's peak under the budget (held from the header on, until
// the image is handed back).
Result<std::vector<uint8_t>> read_reserved(const std::string& path, DecodeBudget& budget,
                                           DecodeBudget::Reservation* held, ImageInfo* info) {
  CHEXRT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file_bytes(path));
  CHEXRT_ASSIGN_OR_RETURN(*info, read_image_info(bytes.data(), bytes.size(), path));
  *held = budget.reserve(decode_peak_bytes(*info));
  return bytes;
}

// Decodes to 8-bit pixels and keeps the scaled-down copy for heat maps.
Result<Image8> decode_pixels(std::vector<uint8_t> bytes, const std::string& path, const LoadOptions& options,
                             BatchItem* item) {
  CHEXRT_ASSIGN_OR_RETURN(Image8 image, decode_image8(bytes.data(), bytes.size(), path));
  bytes = {};
  if (options.keep_images) {
    HeatmapBase base = heatmap_base(image, options.preprocess, options.kept_image_max_side);
    item->image = std::move(base.image);
    item->crop_region = base.crop_region;
  }
  return image;
}

// A failed allocation is this file's failure: it must not end the process from a thread.
template <class Fn>
auto guard_allocation(const std::string& path, BatchItem* item, Fn fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    item->image = Image8();
    return runtime_error(path + ": out of memory while decoding");
  }
}

}  // namespace

Result<EngineImage> decode_image_file(const std::string& path, const LoadOptions& options, DecodeBudget& budget,
                                      BatchItem* item, std::vector<uint8_t> rows_buffer) {
  return guard_allocation(path, item, [&]() -> Result<EngineImage> {
    DecodeBudget::Reservation held;
    EngineImage image;
    CHEXRT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file_bytes(path));
    CHEXRT_ASSIGN_OR_RETURN(const ImageInfo info, read_image_info(bytes.data(), bytes.size(), path));
    if (options.jpeg_files && !options.keep_images && info.format == ImageFormat::kJpeg) {
      // The file's bytes are all this file holds until the engine takes them.
      held = budget.reserve(static_cast<int64_t>(bytes.size()));
      image.encoding = PixelEncoding::kJpeg;
      image.pixels = Image8{info.width, info.height, info.channels, {}};
      image.bytes = std::move(bytes);
      return image;
    }
    held = budget.reserve(decode_peak_bytes(info));
    if (options.png_rows && !options.keep_images && info.format == ImageFormat::kPng) {
      // Where the fast path fails (a layout it does not take, a damaged file), the full decode
      // below gives the verdict and the message that decode_image8() always gives.
      Result<detail::PngRows> rows = detail::inflate_png_fast(bytes.data(), bytes.size(), &rows_buffer);
      if (rows.ok()) {
        image.encoding = PixelEncoding::kPngFiltered;
        image.bytes = std::move(rows_buffer);
        image.png_format = rows->format;
        image.pixels = Image8{rows->width, rows->height, png_rows_view(nullptr, 0, 0, rows->format).channels, {}};
        return image;
      }
    }
    CHEXRT_ASSIGN_OR_RETURN(image.pixels, decode_pixels(std::move(bytes), path, options, item));
    return image;
  });
}

ImageView EngineImage::view() const {
  switch (encoding) {
    case PixelEncoding::kPngFiltered:
      return png_rows_view(bytes.data(), pixels.width, pixels.height, png_format);
    case PixelEncoding::kJpeg:
      return jpeg_view(bytes.data(), bytes.size(), pixels.width, pixels.height, pixels.channels);
    case PixelEncoding::kEight:
      break;
  }
  return view_of(pixels);
}

Status decode_held_jpeg(const std::string& path, DecodeBudget& budget, EngineImage* image) {
  if (!image->is_jpeg()) return invalid_argument(path + ": decode_held_jpeg: no JPEG file is held");
  BatchItem unused;
  return guard_allocation(path, &unused, [&]() -> Status {
    ImageInfo info;
    info.format = ImageFormat::kJpeg;
    info.width = image->pixels.width;
    info.height = image->pixels.height;
    info.channels = image->pixels.channels;
    DecodeBudget::Reservation held = budget.reserve(decode_peak_bytes(info));
    CHEXRT_ASSIGN_OR_RETURN(image->pixels, decode_image8(image->bytes.data(), image->bytes.size(), path));
    image->bytes = {};
    image->encoding = PixelEncoding::kEight;
    return Status::ok_status();
  });
}

Status load_image_file(const std::string& path, const LoadOptions& options, DecodeBudget& budget, HostTensor* batch,
                       int64_t first, BatchItem* item) {
  return guard_allocation(path, item, [&]() -> Status {
    DecodeBudget::Reservation held;  // until the image is preprocessed
    ImageInfo info;
    CHEXRT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_reserved(path, budget, &held, &info));
    CHEXRT_ASSIGN_OR_RETURN(Image8 image, decode_pixels(std::move(bytes), path, options, item));
    Status preprocessed = preprocess_into(image, options.preprocess, batch, first);
    return preprocessed.ok() ? preprocessed : preprocessed.with_context(path);
  });
}

Result<HostTensor> compact_batch(HostTensor batch, std::vector<BatchItem>& items, int samples) {
  const size_t sample_bytes = batch.dims().empty() || batch.dims()[0] == 0 ? 0 : batch.nbytes() / batch.dims()[0];
  int64_t row = 0;
  for (size_t k = 0; k < items.size(); ++k) {
    if (!items[k].status.ok()) continue;
    const int64_t from = static_cast<int64_t>(k) * samples;
    if (from != row) {
      std::memmove(static_cast<uint8_t*>(batch.raw()) + row * sample_bytes,
                   static_cast<const uint8_t*>(batch.raw()) + from * sample_bytes, samples * sample_bytes);
    }
    items[k].first_sample = row;
    row += samples;
  }
  return batch.first_rows(row);
}

int64_t ImageBatch::num_ok() const {
  return std::count_if(items.begin(), items.end(), [](const BatchItem& item) { return item.status.ok(); });
}

Result<std::vector<std::string>> expand_image_paths(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& arg : paths) {
    std::error_code ec;
    const fs::file_status status = fs::status(arg, ec);
    if (!fs::exists(status)) return not_found(arg + ": no such file or directory");
    if (ec) return io_error(arg + ": " + ec.message());
    if (!fs::is_directory(status)) {
      files.push_back(arg);
      continue;
    }
    std::vector<std::string> found;
    // Directory symlinks are not followed, so a link cycle cannot loop.
    fs::recursive_directory_iterator it(arg, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (is_image_file(*it)) found.push_back(it->path().string());
    }
    if (ec) return io_error(arg + ": cannot list the directory: " + ec.message());
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

Result<ImageBatch> load_image_batch(const std::vector<std::string>& paths, const LoadOptions& options) {
  CHEXRT_RETURN_IF_ERROR(validate(options.preprocess));
  if (options.num_threads < 1) return invalid_argument("load_image_batch: num_threads must be at least 1");
  const int samples = samples_per_image(options.preprocess);
  const int crop = options.preprocess.crop_size;

  if (options.keep_images && options.kept_image_max_side < 1) {
    return invalid_argument("load_image_batch: kept_image_max_side must be at least 1");
  }
  DecodeBudget own_budget;
  DecodeBudget& budget = options.budget != nullptr ? *options.budget : own_budget;

  // Each file is preprocessed into its own rows of a batch of all the files; the rows of the
  // files that failed are then squeezed out.
  ImageBatch batch;
  batch.samples_per_image = samples;
  batch.items.resize(paths.size());
  HostTensor all(DataType::kFloat32, {static_cast<int64_t>(paths.size()) * samples, 3, crop, crop});
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < paths.size(); i = next.fetch_add(1)) {
      BatchItem& item = batch.items[i];
      item.path = paths[i];
      item.status = load_image_file(paths[i], options, budget, &all, static_cast<int64_t>(i) * samples, &item);
    }
  };
  const int num_threads = static_cast<int>(std::min<size_t>(options.num_threads, paths.size()));
  std::vector<std::thread> pool;
  for (int t = 1; t < num_threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();

  CHEXRT_ASSIGN_OR_RETURN(HostTensor input, compact_batch(std::move(all), batch.items, samples));
  if (batch.num_ok() > 0) batch.input = std::move(input);
  return batch;
}

}  // namespace chexrt::app
