#include "backends/cuda/png_encoder.h"

#include <algorithm>
#include <cstring>

#include "backends/cuda/kernels/png_encode.cuh"
#include "core/png_encode.h"

namespace chexrt::cuda {
namespace {

long long align16(long long n) { return (n + 15) & ~15LL; }

// Grows `buffer` to at least `bytes`, by half again to limit reallocations.
template <class Buffer>
Status grow(Buffer& buffer, size_t bytes, const char* what) {
  if (buffer.bytes() >= bytes) return Status::ok_status();
  return buffer.allocate(std::max(bytes, buffer.bytes() + buffer.bytes() / 2), what);
}

Status wait(cudaStream_t stream, cudaEvent_t done, const char* what) {
  CHEXRT_CUDA_TRY(cudaEventRecord(done, stream), what);
  CHEXRT_CUDA_TRY(cudaEventSynchronize(done), what);
  return Status::ok_status();
}

}  // namespace

Status PngEncoder::encode(const uint8_t* base, const std::vector<Image>& images, cudaStream_t stream,
                          cudaEvent_t done) {
  if (images.empty()) return Status::ok_status();
  // The segment table: each segment's slot holds it stored, the largest it can be; so does each
  // image's region of the packed output.
  std::vector<PngSegmentJob> jobs;
  std::vector<long long> packed_at(images.size());
  long long slot_bytes = 0, packed_bytes = 0;
  for (size_t k = 0; k < images.size(); ++k) {
    const Image& im = images[k];
    CHEXRT_RETURN_IF_ERROR(png_encode::check_image(im.width, im.height, im.channels));
    const long long row_bytes = static_cast<long long>(im.width) * im.channels;
    const int first_segment = static_cast<int>(jobs.size());
    packed_at[k] = packed_bytes;
    for (int s = 0; s < png_encode::num_segments(im.height); ++s) {
      PngSegmentJob j;
      j.pixels = im.offset;
      j.slot = slot_bytes;
      j.packed = packed_at[k];
      j.size = png_encode::segment_bytes(im.height, row_bytes, s);
      j.row_bytes = row_bytes;
      j.first_row = s * png_encode::kSegmentRows;
      j.channels = im.channels;
      j.first_segment = first_segment;
      jobs.push_back(j);
      slot_bytes += align16(png_encode::stored_size(j.size));
      packed_bytes += png_encode::stored_size(j.size);
    }
    packed_bytes = align16(packed_bytes);
  }
  const size_t n = jobs.size();
  const size_t table_bytes = n * sizeof(PngSegmentJob);
  const size_t sums_bytes = n * (sizeof(long long) + 2 * sizeof(uint32_t));
  CHEXRT_RETURN_IF_ERROR(grow(table_host_, table_bytes, "pinned PNG segment table"));
  CHEXRT_RETURN_IF_ERROR(grow(table_, table_bytes, "PNG segment table"));
  CHEXRT_RETURN_IF_ERROR(grow(sums_host_, sums_bytes, "pinned PNG segment sizes"));
  CHEXRT_RETURN_IF_ERROR(grow(sums_, sums_bytes, "PNG segment sizes"));
  CHEXRT_RETURN_IF_ERROR(grow(slots_, static_cast<size_t>(slot_bytes), "PNG segments"));
  CHEXRT_RETURN_IF_ERROR(grow(packed_, static_cast<size_t>(packed_bytes), "packed PNG data"));

  std::memcpy(table_host_.get(), jobs.data(), table_bytes);
  CHEXRT_CUDA_TRY(cudaMemcpyAsync(table_.get(), table_host_.get(), table_bytes, cudaMemcpyHostToDevice, stream),
                  "uploading the PNG segment table");
  auto* sizes = sums_.as<long long>();
  auto* adler = reinterpret_cast<uint32_t*>(sizes + n);
  CHEXRT_RETURN_IF_ERROR(
      check_cuda(launch_png_encode(base, table_.as<PngSegmentJob>(), static_cast<int>(n), slots_.as<uint8_t>(), sizes,
                                   adler, packed_.as<uint8_t>(), stream),
                 "encoding PNGs on the GPU"));
  CHEXRT_CUDA_TRY(cudaMemcpyAsync(sums_host_.get(), sums_.get(), sums_bytes, cudaMemcpyDeviceToHost, stream),
                  "copying PNG segment sizes back");
  CHEXRT_RETURN_IF_ERROR(wait(stream, done, "encoding PNGs on the GPU"));

  // Each image's deflate bytes and Adler-32, then only those bytes copied back.
  const auto* host_sizes = static_cast<const long long*>(sums_host_.get());
  const auto* host_adler = reinterpret_cast<const uint32_t*>(host_sizes + n);
  std::vector<long long> deflate_bytes(images.size(), 0), back_at(images.size(), 0);
  std::vector<uint32_t> adlers(images.size(), 1);
  long long back_bytes = 0;
  for (size_t s = 0, k = 0; k < images.size(); ++k) {
    for (int i = 0; i < png_encode::num_segments(images[k].height); ++i, ++s) {
      deflate_bytes[k] += host_sizes[s];
      adlers[k] = png_encode::combine_adler(adlers[k], host_adler[2 * s], host_adler[2 * s + 1], jobs[s].size);
    }
    back_at[k] = back_bytes;
    back_bytes += deflate_bytes[k];
  }
  CHEXRT_RETURN_IF_ERROR(grow(packed_host_, static_cast<size_t>(back_bytes), "pinned PNG data"));
  auto* back = static_cast<uint8_t*>(packed_host_.get());
  for (size_t k = 0; k < images.size(); ++k) {
    CHEXRT_CUDA_TRY(cudaMemcpyAsync(back + back_at[k], packed_.as<uint8_t>() + packed_at[k],
                                    static_cast<size_t>(deflate_bytes[k]), cudaMemcpyDeviceToHost, stream),
                    "copying PNGs back");
  }
  CHEXRT_RETURN_IF_ERROR(wait(stream, done, "copying PNGs back"));
  for (size_t k = 0; k < images.size(); ++k) {
    const Image& im = images[k];
    const auto deflate = static_cast<size_t>(deflate_bytes[k]);
    im.png->resize(png_encode::kPrefixBytes + deflate + png_encode::kSuffixBytes);
    std::memcpy(im.png->data() + png_encode::kPrefixBytes, back + back_at[k], deflate);
    png_encode::frame_png(im.width, im.height, im.channels, deflate, adlers[k], im.png->data());
  }
  return Status::ok_status();
}

}  // namespace chexrt::cuda
