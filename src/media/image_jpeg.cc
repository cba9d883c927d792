// JPEG through libjpeg-turbo's libjpeg API, with the EXIF orientation read by libexif.
//
// libjpeg reports fatal errors by calling error_exit, which must not return: the decoder's
// state lives in plain C structs inside ReadJpeg, so a longjmp back into it skips no C++
// destructor. Warnings (corrupt or missing data, which libjpeg would paper over with grey)
// are recorded and turned into errors too.
#include <csetjmp>
#include <cstddef>
#include <cstdio>  // jpeglib.h needs size_t and FILE declared first
#include <cstdlib>
#include <cstring>

#include <jpeglib.h>
#include <libexif/exif-data.h>

#include "base/error.h"
#include "media/image_formats.h"

namespace g4::media_internal {
namespace {

struct JpegErrors {
  jpeg_error_mgr manager;  // first, so libjpeg's pointer to it is a pointer to the whole
  jmp_buf fatal;
  char message[JMSG_LENGTH_MAX];
  bool warned;
};

void OnFatal(j_common_ptr info) {
  JpegErrors* errors = reinterpret_cast<JpegErrors*>(info->err);
  info->err->format_message(info, errors->message);
  longjmp(errors->fatal, 1);
}

void OnMessage(j_common_ptr info, int level) {
  JpegErrors* errors = reinterpret_cast<JpegErrors*>(info->err);
  if (level < 0 && !errors->warned) {  // the first warning is the telling one
    info->err->format_message(info, errors->message);
    errors->warned = true;
  }
}

// What ReadJpeg returns: plain data only (see the file comment).
struct JpegResult {
  int width, height;
  unsigned char* rgb;  // malloc'd, [height][width][3]; null on failure
  int orientation;     // EXIF orientation, 1 when absent
  bool too_large;
  char message[JMSG_LENGTH_MAX];
};

int ExifOrientation(const jpeg_saved_marker_ptr markers) {
  for (jpeg_saved_marker_ptr m = markers; m != nullptr; m = m->next) {
    if (m->marker != JPEG_APP0 + 1 || m->data_length < 6 || std::memcmp(m->data, "Exif\0\0", 6) != 0) continue;
    ExifData* exif = exif_data_new_from_data(m->data, m->data_length);
    if (exif == nullptr) return 1;
    int orientation = 1;
    ExifEntry* entry = exif_content_get_entry(exif->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
    if (entry != nullptr && entry->format == EXIF_FORMAT_SHORT && entry->components >= 1) {
      orientation = exif_get_short(entry->data, exif_data_get_byte_order(exif));
    }
    exif_data_unref(exif);
    return orientation;
  }
  return 1;
}

void ReadJpeg(const uint8_t* data, size_t size, JpegResult* result) {
  jpeg_decompress_struct info;
  JpegErrors errors;
  std::memset(&errors, 0, sizeof errors);
  info.err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = OnFatal;
  errors.manager.emit_message = OnMessage;
  unsigned char* volatile rgb = nullptr;
  if (setjmp(errors.fatal)) {
    std::free(rgb);
    jpeg_destroy_decompress(&info);
    std::snprintf(result->message, sizeof result->message, "%s", errors.message);
    return;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&info, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&info, TRUE);
  result->width = static_cast<int>(info.image_width);
  result->height = static_cast<int>(info.image_height);
  if (static_cast<int64_t>(info.image_width) * info.image_height > kMaxImagePixels || info.image_width == 0 ||
      info.image_height == 0) {
    result->too_large = true;
    jpeg_destroy_decompress(&info);
    return;
  }
  result->orientation = ExifOrientation(info.marker_list);
  info.out_color_space = JCS_RGB;  // grayscale and YCbCr convert; CMYK is refused by libjpeg
  jpeg_start_decompress(&info);
  const size_t stride = static_cast<size_t>(info.output_width) * 3;
  rgb = static_cast<unsigned char*>(std::malloc(stride * info.output_height));
  if (rgb == nullptr) {
    std::snprintf(errors.message, sizeof errors.message, "out of memory");
    longjmp(errors.fatal, 1);
  }
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = rgb + stride * info.output_scanline;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  if (errors.warned) {
    std::free(rgb);
    std::snprintf(result->message, sizeof result->message, "%s", errors.message);
    return;
  }
  result->rgb = rgb;
}

}  // namespace

Image DecodeJpeg(const uint8_t* data, size_t size, const std::string& what) {
  JpegResult result;
  std::memset(&result, 0, sizeof result);
  result.orientation = 1;
  ReadJpeg(data, size, &result);
  if (result.too_large) CheckImageSize(result.width, result.height, what);
  if (result.rgb == nullptr) Fail(what, ": not a readable JPEG file: ", result.message);
  Image image;
  image.width = result.width;
  image.height = result.height;
  image.rgb.assign(result.rgb, result.rgb + static_cast<size_t>(result.width) * result.height * 3);
  std::free(result.rgb);
  return ApplyExifOrientation(std::move(image), result.orientation);
}

Image ApplyExifOrientation(Image image, int orientation) {
  if (orientation < 2 || orientation > 8) return image;
  const int w = image.width, h = image.height;
  const bool swaps = orientation >= 5;
  Image out;
  out.width = swaps ? h : w;
  out.height = swaps ? w : h;
  out.rgb.resize(image.rgb.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = w - 1 - x; break;                     // mirrored left-right
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;     // rotated 180
        case 4: sy = h - 1 - y; break;                     // mirrored top-bottom
        case 5: sx = y; sy = x; break;                     // transposed
        case 6: sx = y; sy = h - 1 - x; break;             // stored rotated 90 counter-clockwise
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;     // transversed
        case 8: sx = w - 1 - y; sy = x; break;             // stored rotated 90 clockwise
      }
      std::memcpy(&out.rgb[(static_cast<size_t>(y) * out.width + x) * 3], image.pixel(sx, sy), 3);
    }
  }
  return out;
}

}  // namespace g4::media_internal
