// nvJPEG loaded at run time: libnvjpeg.so.<major of the header> through dlopen, its functions
// through dlsym, so that chexrt neither links it nor needs it to run (without it, JPEG views are
// decoded on the host). Only the decoder (jpeg_decoder.cpp) includes this header.
#pragma once

#include <nvjpeg.h>

#include <string>

#include "chexrt/status.h"

namespace chexrt::cuda {

/// The nvJPEG functions chexrt calls, typed from the header.
struct NvjpegLibrary {
#define CHEXRT_NVJPEG_FUNCTIONS(X)        \
  X(nvjpegCreateEx)                       \
  X(nvjpegDestroy)                        \
  X(nvjpegJpegStateCreate)                \
  X(nvjpegJpegStateDestroy)               \
  X(nvjpegDecodeBatchedInitialize)        \
  X(nvjpegDecodeBatched)                  \
  X(nvjpegDecodeBatchedSupported)         \
  X(nvjpegJpegStreamCreate)               \
  X(nvjpegJpegStreamDestroy)              \
  X(nvjpegJpegStreamParse)                \
  X(nvjpegJpegStreamParseHeader)          \
  X(nvjpegJpegStreamGetFrameDimensions)   \
  X(nvjpegJpegStreamGetComponentsNum)     \
  X(nvjpegJpegStreamGetJpegEncoding)      \
  X(nvjpegJpegStreamGetSamplePrecision)   \
  X(nvjpegJpegStreamGetChromaSubsampling) \
  X(nvjpegDecoderCreate)                  \
  X(nvjpegDecoderDestroy)                 \
  X(nvjpegDecoderStateCreate)             \
  X(nvjpegDecoderJpegSupported)           \
  X(nvjpegBufferPinnedCreate)             \
  X(nvjpegBufferPinnedDestroy)            \
  X(nvjpegBufferDeviceCreate)             \
  X(nvjpegBufferDeviceDestroy)            \
  X(nvjpegStateAttachPinnedBuffer)        \
  X(nvjpegStateAttachDeviceBuffer)        \
  X(nvjpegDecodeParamsCreate)             \
  X(nvjpegDecodeParamsDestroy)            \
  X(nvjpegDecodeParamsSetOutputFormat)    \
  X(nvjpegDecodeJpegHost)                 \
  X(nvjpegDecodeJpegTransferToDevice)     \
  X(nvjpegDecodeJpegDevice)
#define CHEXRT_NVJPEG_POINTER(name) decltype(&::name) name = nullptr;
  CHEXRT_NVJPEG_FUNCTIONS(CHEXRT_NVJPEG_POINTER)
#undef CHEXRT_NVJPEG_POINTER

  /// The file that was loaded ("libnvjpeg.so.13").
  std::string file;
};

/// The library, loaded on the first call (once per process, thread-safe); Unavailable, saying
/// which file or function is missing, where it cannot be loaded.
Result<const NvjpegLibrary*> nvjpeg_library();

/// "NVJPEG_STATUS_BAD_JPEG" and the like.
const char* nvjpeg_status_name(nvjpegStatus_t status);

/// RuntimeError naming `what` and the status, unless it is NVJPEG_STATUS_SUCCESS.
Status check_nvjpeg(nvjpegStatus_t status, const std::string& what);

}  // namespace chexrt::cuda
