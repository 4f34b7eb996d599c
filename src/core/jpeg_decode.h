// JPEG decoding to 8-bit pixels through libjpeg(-turbo) with its default (ISLOW) IDCT and fancy
// upsampling: the settings PIL uses, so both give the same pixels. The app's decoders
// (app/image_io.h) and Engine::infer_images for JPEG views (chexrt/image_input.h) both decode
// here, so a JPEG gives the same pixels whichever path reads it. Errors start "JPEG: " and do
// not name the file; callers add it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "chexrt/image_input.h"
#include "chexrt/status.h"

namespace chexrt::jpeg {

/// The colour space libjpeg reads from the file's markers.
enum class ColorSpace { kGrey, kYCbCr, kRgb, kOther };

/// What a JPEG's header says, read without decoding its pixels.
struct Header {
  int width = 0;
  int height = 0;
  /// Of the decoded pixels: 1 for grey, else 3 (CMYK and YCCK are refused when decoding).
  int channels = 0;
  int components = 0;  ///< in the file
  ColorSpace color = ColorSpace::kOther;
  bool progressive = false;
  bool arithmetic = false;  ///< arithmetic rather than Huffman coding
  /// Some component has sampling factors other than the first's (chroma subsampling, 4:2:0 ...).
  bool subsampled = false;
};

/// ParseError for a file libjpeg cannot read a header from; Unsupported for an image beyond
/// kMaxImagePixels.
Result<Header> read_header(const uint8_t* data, size_t size);

/// Grey JPEGs to 1 channel, YCbCr and RGB ones to 3 (RGB). ParseError for corrupt or truncated
/// data (libjpeg only warns about the latter and pads with grey; PIL refuses it, and so does
/// chexrt), Unsupported for CMYK and YCCK.
Result<Image8> decode(const uint8_t* data, size_t size);

/// decode() of a JPEG view's file (chexrt/image_input.h), InvalidArgument when its pixels are not
/// the view's width x height x channels.
Result<Image8> decode_view(const ImageView& view);

/// ParseError for an image without pixels, Unsupported for one beyond kMaxImagePixels.
Status check_image_size(int64_t width, int64_t height);

}  // namespace chexrt::jpeg
