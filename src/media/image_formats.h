// Decoders behind DecodeImage (image.cc), one per format, each a Debian library: libjpeg-turbo
// (+ libexif for the EXIF orientation), libwebp, giflib, stb_image for BMP. Internal to
// src/media. Each checks the size its header claims against kMaxImagePixels before allocating.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "media/image.h"

namespace g4::media_internal {

// Throws g4::Error naming `what` for a size that is empty or larger than kMaxImagePixels.
void CheckImageSize(int64_t width, int64_t height, const std::string& what);

Image DecodeJpeg(const uint8_t* data, size_t size, const std::string& what);
Image DecodeWebp(const uint8_t* data, size_t size, const std::string& what);
Image DecodeGif(const uint8_t* data, size_t size, const std::string& what);
Image DecodeBmp(const uint8_t* data, size_t size, const std::string& what);

// Turns an image as stored into an upright one for EXIF orientation 1-8 (values outside that
// range leave it unchanged), as PIL's ImageOps.exif_transpose does.
Image ApplyExifOrientation(Image image, int orientation);

}  // namespace g4::media_internal
