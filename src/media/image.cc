#include "media/image.h"

#include <png.h>

#include <cstring>

#include "base/error.h"
#include "base/mapped_file.h"
#include "media/image_formats.h"

namespace g4 {
namespace {

using media_internal::CheckImageSize;

bool StartsWith(const uint8_t* data, size_t size, const void* magic, size_t length, size_t offset = 0) {
  return size >= offset + length && std::memcmp(data + offset, magic, length) == 0;
}

// libpng's simplified API reports every problem (bad CRC, truncated data, unsupported
// feature) through a return value and image.message, never by longjmp into our frames.
Image DecodePng(const uint8_t* data, size_t size, const std::string& what) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, data, size)) {
    Fail(what, ": not a readable PNG file: ", png.message);
  }
  struct Release {
    png_image* p;
    ~Release() { png_image_free(p); }
  } release{&png};
  CheckImageSize(png.width, png.height, what);
  // RGBA keeps the colour values unchanged where a straight RGB read would composite them onto
  // a background; the alpha byte is dropped below.
  png.format = PNG_FORMAT_RGBA;
  std::vector<uint8_t> rgba(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, rgba.data(), 0, nullptr)) {
    Fail(what, ": corrupt PNG data: ", png.message);
  }
  Image image;
  image.width = static_cast<int>(png.width);
  image.height = static_cast<int>(png.height);
  const size_t n = static_cast<size_t>(image.width) * image.height;
  image.rgb.resize(n * 3);
  for (size_t i = 0; i < n; ++i) std::memcpy(&image.rgb[i * 3], &rgba[i * 4], 3);
  return image;
}

}  // namespace

Image DecodeImage(const uint8_t* data, size_t size, const std::string& what) {
  if (size == 0) Fail(what, ": the image is empty (0 bytes)");
  // The format comes from the first bytes, never from a file name or a MIME type.
  if (StartsWith(data, size, "\x89PNG\r\n\x1a\n", 8)) return DecodePng(data, size, what);
  if (StartsWith(data, size, "\xff\xd8\xff", 3)) return media_internal::DecodeJpeg(data, size, what);
  if (StartsWith(data, size, "RIFF", 4) && StartsWith(data, size, "WEBP", 4, 8)) {
    return media_internal::DecodeWebp(data, size, what);
  }
  if (StartsWith(data, size, "GIF87a", 6) || StartsWith(data, size, "GIF89a", 6)) {
    return media_internal::DecodeGif(data, size, what);
  }
  if (StartsWith(data, size, "BM", 2)) return media_internal::DecodeBmp(data, size, what);
  Fail(what, ": unsupported image format (g4 reads PNG, JPEG, WebP, GIF and BMP, known by their first bytes)");
}

Image DecodeImageFile(const std::string& path) {
  std::shared_ptr<MappedFile> file = MappedFile::Open(path);
  return DecodeImage(file->data(), file->size(), path);
}

}  // namespace g4
