#include "backends/cuda/jpeg_decoder.h"

#include <algorithm>
#include <utility>

#include "backends/cuda/cuda_util.h"
#include "backends/cuda/nvjpeg_library.h"
#include "core/jpeg_decode.h"

namespace chexrt::cuda {
namespace {

// The two output formats, by the decoded channels: grey levels, and interleaved RGB.
constexpr int kGrey = 0, kRgb = 1;
constexpr nvjpegOutputFormat_t kOutputFormat[2] = {NVJPEG_OUTPUT_Y, NVJPEG_OUTPUT_RGBI};

// Who decodes an image.
enum class Route { kHost, kHardware, kHybrid };

// A complete file ends with the EOI marker (FF D9). libjpeg refuses a file whose data ends before
// its image does; nvJPEG may fill the rest, so such files are left to the host, which says why.
bool ends_with_eoi(const ImageView& file) {
  return file.jpeg_size >= 4 && file.pixels[file.jpeg_size - 2] == 0xFF && file.pixels[file.jpeg_size - 1] == 0xD9;
}

// A handle with strict bitstream checks (an error for a corrupt file rather than a best effort),
// or without them where the backend does not take the flag.
nvjpegStatus_t create_handle(const NvjpegLibrary& lib, nvjpegBackend_t backend, nvjpegHandle_t* handle) {
  nvjpegStatus_t s = lib.nvjpegCreateEx(backend, nullptr, nullptr, NVJPEG_FLAGS_BITSTREAM_STRICT, handle);
  if (s != NVJPEG_STATUS_SUCCESS) s = lib.nvjpegCreateEx(backend, nullptr, nullptr, NVJPEG_FLAGS_DEFAULT, handle);
  return s;
}

}  // namespace

struct JpegDecoder::Impl {
  const NvjpegLibrary* lib = nullptr;
  // The hardware decoders: a handle of their own, one batched state per output format (a state
  // is initialized for one), and a stream that headers are parsed into.
  nvjpegHandle_t hardware = nullptr;
  nvjpegJpegState_t batched[2] = {nullptr, nullptr};
  nvjpegJpegStream_t hardware_stream = nullptr;
  // The GPU hybrid decoder, image by image through the decoupled API (host, transfer, device).
  nvjpegHandle_t handle = nullptr;
  nvjpegJpegDecoder_t decoder = nullptr;
  nvjpegJpegState_t state = nullptr;
  nvjpegBufferPinned_t pinned = nullptr;
  nvjpegBufferDevice_t device = nullptr;
  nvjpegJpegStream_t stream = nullptr;
  nvjpegDecodeParams_t params[2] = {nullptr, nullptr};
  // Recorded once an image's transfer has left the pinned buffer, which the next image refills.
  cudaEvent_t pinned_free = nullptr;

  ~Impl() {
    close_hybrid();
    if (hardware_stream) lib->nvjpegJpegStreamDestroy(hardware_stream);
    for (nvjpegJpegState_t s : batched) {
      if (s) lib->nvjpegJpegStateDestroy(s);
    }
    if (hardware) lib->nvjpegDestroy(hardware);
  }

  void close_hybrid() {
    if (pinned_free) cudaEventDestroy(pinned_free);
    for (nvjpegDecodeParams_t& p : params) {
      if (p) lib->nvjpegDecodeParamsDestroy(p);
      p = nullptr;
    }
    if (stream) lib->nvjpegJpegStreamDestroy(stream);
    if (state) lib->nvjpegJpegStateDestroy(state);
    if (pinned) lib->nvjpegBufferPinnedDestroy(pinned);
    if (device) lib->nvjpegBufferDeviceDestroy(device);
    if (decoder) lib->nvjpegDecoderDestroy(decoder);
    if (handle) lib->nvjpegDestroy(handle);
    pinned_free = nullptr, stream = nullptr, state = nullptr, pinned = nullptr, device = nullptr;
    decoder = nullptr, handle = nullptr;
  }

  // The hardware decoders, where the device has them; false (nothing kept) where not.
  bool open_hardware() {
    if (create_handle(*lib, NVJPEG_BACKEND_HARDWARE, &hardware) != NVJPEG_STATUS_SUCCESS) {
      hardware = nullptr;
      return false;
    }
    bool ok = lib->nvjpegJpegStreamCreate(hardware, &hardware_stream) == NVJPEG_STATUS_SUCCESS;
    for (nvjpegJpegState_t& s : batched) ok = ok && lib->nvjpegJpegStateCreate(hardware, &s) == NVJPEG_STATUS_SUCCESS;
    if (ok) return true;
    if (hardware_stream) lib->nvjpegJpegStreamDestroy(hardware_stream);
    for (nvjpegJpegState_t& s : batched) {
      if (s) lib->nvjpegJpegStateDestroy(s);
      s = nullptr;
    }
    lib->nvjpegDestroy(hardware);
    hardware = nullptr;
    hardware_stream = nullptr;
    return false;
  }

  Status open_hybrid() {
    CHEXRT_RETURN_IF_ERROR(check_nvjpeg(create_handle(*lib, NVJPEG_BACKEND_DEFAULT, &handle), "creating a handle"));
    CHEXRT_RETURN_IF_ERROR(
        check_nvjpeg(lib->nvjpegDecoderCreate(handle, NVJPEG_BACKEND_GPU_HYBRID, &decoder), "creating a decoder"));
    CHEXRT_RETURN_IF_ERROR(
        check_nvjpeg(lib->nvjpegDecoderStateCreate(handle, decoder, &state), "creating a decoder state"));
    CHEXRT_RETURN_IF_ERROR(
        check_nvjpeg(lib->nvjpegBufferPinnedCreate(handle, nullptr, &pinned), "creating a pinned buffer"));
    CHEXRT_RETURN_IF_ERROR(
        check_nvjpeg(lib->nvjpegBufferDeviceCreate(handle, nullptr, &device), "creating a device buffer"));
    CHEXRT_RETURN_IF_ERROR(
        check_nvjpeg(lib->nvjpegStateAttachPinnedBuffer(state, pinned), "attaching the pinned buffer"));
    CHEXRT_RETURN_IF_ERROR(
        check_nvjpeg(lib->nvjpegStateAttachDeviceBuffer(state, device), "attaching the device buffer"));
    CHEXRT_RETURN_IF_ERROR(check_nvjpeg(lib->nvjpegJpegStreamCreate(handle, &stream), "creating a JPEG stream"));
    for (int f : {kGrey, kRgb}) {
      CHEXRT_RETURN_IF_ERROR(
          check_nvjpeg(lib->nvjpegDecodeParamsCreate(handle, &params[f]), "creating decode parameters"));
      CHEXRT_RETURN_IF_ERROR(check_nvjpeg(lib->nvjpegDecodeParamsSetOutputFormat(params[f], kOutputFormat[f]),
                                          "setting the output format"));
    }
    CHEXRT_CUDA_TRY(cudaEventCreateWithFlags(&pinned_free, cudaEventDisableTiming), "creating an event");
    return Status::ok_status();
  }

  // Who decodes `image`, and to which format. Everything nvJPEG would not decode as libjpeg does
  // goes to the host (this file's header comment).
  Route route(const ImageView& image, int* format) {
    if (!is_jpeg(image) || !ends_with_eoi(image)) return Route::kHost;
    nvjpegHandle_t h = hardware ? hardware : handle;
    nvjpegJpegStream_t s = hardware ? hardware_stream : stream;
    if (lib->nvjpegJpegStreamParseHeader(h, image.pixels, image.jpeg_size, s) != NVJPEG_STATUS_SUCCESS) {
      return Route::kHost;
    }
    unsigned width = 0, height = 0, components = 0, precision = 0;
    nvjpegJpegEncoding_t encoding = NVJPEG_ENCODING_UNKNOWN;
    if (lib->nvjpegJpegStreamGetFrameDimensions(s, &width, &height) != NVJPEG_STATUS_SUCCESS ||
        lib->nvjpegJpegStreamGetComponentsNum(s, &components) != NVJPEG_STATUS_SUCCESS ||
        lib->nvjpegJpegStreamGetSamplePrecision(s, &precision) != NVJPEG_STATUS_SUCCESS ||
        lib->nvjpegJpegStreamGetJpegEncoding(s, &encoding) != NVJPEG_STATUS_SUCCESS) {
      return Route::kHost;
    }
    if (static_cast<int>(width) != image.width || static_cast<int>(height) != image.height || precision != 8 ||
        (encoding != NVJPEG_ENCODING_BASELINE_DCT && encoding != NVJPEG_ENCODING_EXTENDED_SEQUENTIAL_DCT_HUFFMAN)) {
      return Route::kHost;
    }
    if (components == 1 && image.channels == 1) {
      *format = kGrey;
    } else if (components == 3 && image.channels == 3) {
      // Whether three components are YCbCr or RGB is libjpeg's call (JFIF and Adobe markers,
      // component ids): read its header, a rare case among X-rays.
      Result<jpeg::Header> header = jpeg::read_header(image.pixels, image.jpeg_size);
      if (!header.ok() || header->color != jpeg::ColorSpace::kYCbCr || header->subsampled || header->progressive ||
          header->arithmetic) {
        return Route::kHost;
      }
      *format = kRgb;
    } else {
      return Route::kHost;
    }
    if (hardware) {
      int unsupported = 1;  // 0: the hardware decoders take it
      if (lib->nvjpegDecodeBatchedSupported(hardware, hardware_stream, &unsupported) == NVJPEG_STATUS_SUCCESS &&
          unsupported == 0) {
        return Route::kHardware;
      }
    }
    return handle ? Route::kHybrid : Route::kHost;
  }

  // One output format's images on the hardware decoders; false when nvJPEG refuses the batch.
  bool decode_hardware(int format, const std::vector<const ImageView*>& images, const std::vector<uint8_t*>& out,
                       cudaStream_t cuda_stream) {
    const int n = static_cast<int>(images.size());
    std::vector<const unsigned char*> data(n);
    std::vector<size_t> lengths(n);
    std::vector<nvjpegImage_t> destinations(n);
    for (int k = 0; k < n; ++k) {
      data[k] = images[k]->pixels;
      lengths[k] = images[k]->jpeg_size;
      destinations[k] = nvjpegImage_t{};
      destinations[k].channel[0] = out[k];
      destinations[k].pitch[0] = static_cast<size_t>(images[k]->width) * images[k]->channels;
    }
    // Initialized for every batch: that also resets a state whose last batch failed.
    return lib->nvjpegDecodeBatchedInitialize(hardware, batched[format], n, 1, kOutputFormat[format]) ==
               NVJPEG_STATUS_SUCCESS &&
           lib->nvjpegDecodeBatched(hardware, batched[format], data.data(), lengths.data(), destinations.data(),
                                    cuda_stream) == NVJPEG_STATUS_SUCCESS;
  }

  // One image on the GPU hybrid decoder; false when nvJPEG refuses it. A CUDA failure is an error.
  Result<bool> decode_hybrid(int format, const ImageView& image, uint8_t* out, cudaStream_t cuda_stream) {
    if (lib->nvjpegJpegStreamParse(handle, image.pixels, image.jpeg_size, 0, 0, stream) != NVJPEG_STATUS_SUCCESS) {
      return false;
    }
    int unsupported = 1;  // 0: the decoder takes it
    if (lib->nvjpegDecoderJpegSupported(decoder, stream, params[format], &unsupported) != NVJPEG_STATUS_SUCCESS ||
        unsupported != 0) {
      return false;
    }
    CHEXRT_CUDA_TRY(cudaEventSynchronize(pinned_free), "waiting for nvJPEG's pinned buffer");
    if (lib->nvjpegDecodeJpegHost(handle, decoder, state, params[format], stream) != NVJPEG_STATUS_SUCCESS) {
      return false;
    }
    const bool sent =
        lib->nvjpegDecodeJpegTransferToDevice(handle, decoder, state, stream, cuda_stream) == NVJPEG_STATUS_SUCCESS;
    CHEXRT_CUDA_TRY(cudaEventRecord(pinned_free, cuda_stream), "recording an event");
    if (!sent) return false;
    nvjpegImage_t destination{};
    destination.channel[0] = out;
    destination.pitch[0] = static_cast<size_t>(image.width) * image.channels;
    return lib->nvjpegDecodeJpegDevice(handle, decoder, state, &destination, cuda_stream) == NVJPEG_STATUS_SUCCESS;
  }
};

Status JpegDecoder::available() { return nvjpeg_library().status(); }

Result<std::unique_ptr<JpegDecoder>> JpegDecoder::create() {
  CHEXRT_ASSIGN_OR_RETURN(const NvjpegLibrary* lib, nvjpeg_library());
  auto impl = std::make_unique<Impl>();
  impl->lib = lib;
  const bool hardware = impl->open_hardware();
  const Status hybrid = impl->open_hybrid();
  if (!hybrid.ok()) {
    if (!hardware) return hybrid.with_context("nvJPEG has neither its hardware nor its GPU hybrid decoder here");
    impl->close_hybrid();  // the hardware decoders alone: what they refuse is decoded on the host
  }
  return std::unique_ptr<JpegDecoder>(new JpegDecoder(std::move(impl)));
}

JpegDecoder::JpegDecoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

JpegDecoder::~JpegDecoder() = default;

const char* JpegDecoder::backend() const { return impl_->hardware ? "hardware" : "GPU hybrid"; }

Result<std::vector<size_t>> JpegDecoder::enqueue(const std::vector<ImageView>& images,
                                                 const std::vector<uint8_t*>& destinations, cudaStream_t stream) {
  if (destinations.size() != images.size()) {
    return invalid_argument("JpegDecoder: " + std::to_string(images.size()) + " images but " +
                            std::to_string(destinations.size()) + " destinations");
  }
  std::vector<size_t> refused;
  std::vector<size_t> hardware[2];
  for (size_t k = 0; k < images.size(); ++k) {
    int format = kGrey;
    switch (impl_->route(images[k], &format)) {
      case Route::kHost:
        refused.push_back(k);
        break;
      case Route::kHardware:
        hardware[format].push_back(k);
        break;
      case Route::kHybrid: {
        CHEXRT_ASSIGN_OR_RETURN(const bool decoded, impl_->decode_hybrid(format, images[k], destinations[k], stream));
        if (decoded) {
          ++counts_.hybrid;
        } else {
          refused.push_back(k);
        }
        break;
      }
    }
  }
  for (int format : {kGrey, kRgb}) {
    if (hardware[format].empty()) continue;
    std::vector<const ImageView*> batch;
    std::vector<uint8_t*> out;
    for (size_t k : hardware[format]) {
      batch.push_back(&images[k]);
      out.push_back(destinations[k]);
    }
    if (impl_->decode_hardware(format, batch, out, stream)) {
      counts_.hardware += static_cast<int64_t>(batch.size());
    } else {
      // A batch fails as a whole (one corrupt file is enough): its files go to the host, which
      // decodes the good ones and names the bad one.
      refused.insert(refused.end(), hardware[format].begin(), hardware[format].end());
    }
  }
  std::sort(refused.begin(), refused.end());
  counts_.refused += static_cast<int64_t>(refused.size());
  return refused;
}

}  // namespace chexrt::cuda
