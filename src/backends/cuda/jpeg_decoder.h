// JPEG views (chexrt/image_input.h) decoded on the GPU through nvJPEG, straight into the memory
// that the preprocessing kernels read (ImagePreprocessor). One per execution context, its
// buffers reused from batch to batch. A batch goes to the GPU's hardware JPEG decoders
// (NVJPEG_BACKEND_HARDWARE, one nvjpegDecodeBatched call per output format) where the GPU has them
// and they take the file, else image by image to nvJPEG's GPU-assisted Huffman decoder
// (NVJPEG_BACKEND_GPU_HYBRID). A file either refuses is left to the caller, which decodes it on
// the host; so are files whose pixels nvJPEG would not give as libjpeg does (core/jpeg_decode.h):
// progressive, arithmetic-coded or 12-bit ones, colour ones that are not YCbCr or whose chroma
// is subsampled (libjpeg's "fancy" upsampling is a triangle filter, nvJPEG's a repeat), and files
// that do not end in an EOI marker (truncated: libjpeg refuses them, nvJPEG may pad them).
//
// Grey files decode to NVJPEG_OUTPUT_Y and YCbCr ones to NVJPEG_OUTPUT_RGBI: the grey levels and
// interleaved RGB that libjpeg gives. nvJPEG's inverse DCT is not libjpeg's ISLOW, so a sample may
// differ by a grey level or two (tests/gpu/jpeg_decode_test.cpp states the bound).
//
// Built with nvjpeg.h (jpeg_decoder.cpp) or without (jpeg_decoder_none.cpp: never available).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chexrt/image_input.h"
#include "chexrt/status.h"

namespace chexrt::cuda {

class JpegDecoder {
 public:
  /// Ok when nvJPEG can be used in this process: chexrt was built with its header and its library
  /// loads. Else Unavailable, saying why.
  static Status available();

  /// A decoder on the calling thread's current device: with the hardware decoders where the
  /// device has them. Unavailable or RuntimeError when nvJPEG cannot be used.
  static Result<std::unique_ptr<JpegDecoder>> create();

  ~JpegDecoder();
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;

  /// Rows of device memory a decode of `image` may write: its height rounded up to whole MCU rows
  /// (16), so that a decoder writing whole blocks stays inside its image's room.
  static int padded_rows(const ImageView& image) { return (image.height + 15) / 16 * 16; }

  /// Enqueues on `stream` the decoding of the JPEG views `images[k]` into `destinations[k]`
  /// (device memory of width * channels bytes per row and padded_rows() rows). Returns the
  /// positions k it left to the caller (refused by nvJPEG, or a file whose pixels it would not
  /// give as libjpeg does); the others are decoded once the stream reaches this point. The files'
  /// bytes must stay until the stream has. Fails only when the GPU or nvJPEG fails as a whole.
  Result<std::vector<size_t>> enqueue(const std::vector<ImageView>& images, const std::vector<uint8_t*>& destinations,
                                      cudaStream_t stream);

  /// "hardware" or "GPU hybrid": the nvJPEG backend that takes the batches.
  const char* backend() const;

  /// Images decoded so far on the hardware decoders, on the hybrid one, and left to the caller.
  struct Counts {
    int64_t hardware = 0;
    int64_t hybrid = 0;
    int64_t refused = 0;
  };
  Counts counts() const { return counts_; }

 private:
  struct Impl;
  explicit JpegDecoder(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
  Counts counts_;
};

}  // namespace chexrt::cuda
