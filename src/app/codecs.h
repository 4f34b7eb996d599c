// The decoders behind decode_image(), one per container format. Each returns errors without
// the file name; decode_image() adds it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "app/image_io.h"

namespace chexrt::app::detail {

Result<Image> decode_png(const uint8_t* data, size_t size);
Result<Image> decode_jpeg(const uint8_t* data, size_t size);
/// Unsupported when chexrt was built without DCMTK.
Result<Image> decode_dicom(const uint8_t* data, size_t size);

/// The header alone, for read_image_info(): format, size and decoded channels.
Result<ImageInfo> png_info(const uint8_t* data, size_t size);
Result<ImageInfo> jpeg_info(const uint8_t* data, size_t size);
Result<ImageInfo> dicom_info(const uint8_t* data, size_t size);

/// ParseError for an image without pixels, Unsupported for one beyond kMaxImagePixels.
Status check_image_size(int64_t width, int64_t height);

}  // namespace chexrt::app::detail
