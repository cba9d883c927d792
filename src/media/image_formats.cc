// WebP (libwebp), GIF (giflib, first frame) and BMP (stb_image, with our own size and
// completeness checks on its header, since stb pads a short file with zeros).
#include "media/image_formats.h"

#include <gif_lib.h>
#include <stb/stb_image.h>
#include <webp/decode.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "base/error.h"

namespace g4::media_internal {

void CheckImageSize(int64_t width, int64_t height, const std::string& what) {
  if (width <= 0 || height <= 0) Fail(what, ": the image has no pixels (", width, "x", height, ")");
  if (width * height > kMaxImagePixels) {
    Fail(what, ": the image claims ", width, "x", height, " pixels, more than the ", kMaxImagePixels,
         " g4 decodes; nothing was allocated");
  }
}

// ---- WebP ----------------------------------------------------------------------------------

Image DecodeWebp(const uint8_t* data, size_t size, const std::string& what) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(data, size, &features);
  if (status != VP8_STATUS_OK) Fail(what, ": not a readable WebP file (libwebp status ", status, ")");
  if (features.has_animation) Fail(what, ": animated WebP is not supported; send a still image");
  CheckImageSize(features.width, features.height, what);
  Image image;
  image.width = features.width;
  image.height = features.height;
  image.rgb.resize(static_cast<size_t>(image.width) * image.height * 3);
  // Straight RGB without compositing alpha, as PIL's convert("RGB") drops it.
  if (WebPDecodeRGBInto(data, size, image.rgb.data(), image.rgb.size(), image.width * 3) == nullptr) {
    Fail(what, ": corrupt or truncated WebP data");
  }
  return image;
}

// ---- GIF -----------------------------------------------------------------------------------

namespace {

struct GifReader {
  const uint8_t* data;
  size_t size;
  size_t position;
};

int ReadGifBytes(GifFileType* gif, GifByteType* buffer, int count) {
  GifReader* reader = static_cast<GifReader*>(gif->UserData);
  const size_t n = std::min(static_cast<size_t>(count), reader->size - reader->position);
  std::memcpy(buffer, reader->data + reader->position, n);
  reader->position += n;
  return static_cast<int>(n);
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error = 0;
    DGifCloseFile(gif, &error);
  }
};

}  // namespace

Image DecodeGif(const uint8_t* data, size_t size, const std::string& what) {
  GifReader reader{data, size, 0};
  int error = 0;
  std::unique_ptr<GifFileType, GifCloser> gif(DGifOpen(&reader, ReadGifBytes, &error));
  if (!gif) Fail(what, ": not a readable GIF file: ", GifErrorString(error));
  auto fail = [&](const char* stage) {
    const char* text = GifErrorString(gif->Error);
    Fail(what, ": corrupt or truncated GIF data (", stage, "): ", text != nullptr ? text : "unknown error");
  };
  CheckImageSize(gif->SWidth, gif->SHeight, what);
  // Only the first frame is read: later frames (possibly thousands) are never touched.
  GifRecordType record;
  do {
    if (DGifGetRecordType(gif.get(), &record) == GIF_ERROR) fail("record");
    if (record == EXTENSION_RECORD_TYPE) {
      int code;
      GifByteType* block = nullptr;
      if (DGifGetExtension(gif.get(), &code, &block) == GIF_ERROR) fail("extension");
      while (block != nullptr) {
        if (DGifGetExtensionNext(gif.get(), &block) == GIF_ERROR) fail("extension");
      }
    }
  } while (record != IMAGE_DESC_RECORD_TYPE && record != TERMINATE_RECORD_TYPE);
  if (record == TERMINATE_RECORD_TYPE) Fail(what, ": the GIF file holds no image");
  if (DGifGetImageDesc(gif.get()) == GIF_ERROR) fail("image descriptor");
  const GifImageDesc& frame = gif->Image;
  CheckImageSize(frame.Width, frame.Height, what);
  const ColorMapObject* colors = frame.ColorMap != nullptr ? frame.ColorMap : gif->SColorMap;
  if (colors == nullptr) Fail(what, ": the GIF frame has no colour table");

  std::vector<GifPixelType> indices(static_cast<size_t>(frame.Width) * frame.Height);
  if (frame.Interlace) {
    constexpr int kStart[4] = {0, 4, 2, 1}, kStep[4] = {8, 8, 4, 2};
    for (int pass = 0; pass < 4; ++pass) {
      for (int y = kStart[pass]; y < frame.Height; y += kStep[pass]) {
        if (DGifGetLine(gif.get(), &indices[static_cast<size_t>(y) * frame.Width], frame.Width) == GIF_ERROR) {
          fail("pixels");
        }
      }
    }
  } else {
    for (int y = 0; y < frame.Height; ++y) {
      if (DGifGetLine(gif.get(), &indices[static_cast<size_t>(y) * frame.Width], frame.Width) == GIF_ERROR) {
        fail("pixels");
      }
    }
  }
  // The canvas is the logical screen; outside the first frame it shows the background colour.
  Image image;
  image.width = gif->SWidth;
  image.height = gif->SHeight;
  image.rgb.resize(static_cast<size_t>(image.width) * image.height * 3);
  auto put = [&](uint8_t* dst, int index) {
    const GifColorType c = index < colors->ColorCount ? colors->Colors[index] : GifColorType{0, 0, 0};
    dst[0] = c.Red;
    dst[1] = c.Green;
    dst[2] = c.Blue;
  };
  const int background = gif->SColorMap != nullptr ? gif->SBackGroundColor : 0;
  for (size_t i = 0; i < static_cast<size_t>(image.width) * image.height; ++i) put(&image.rgb[i * 3], background);
  for (int y = 0; y < frame.Height; ++y) {
    const int cy = frame.Top + y;
    if (cy < 0 || cy >= image.height) continue;
    for (int x = 0; x < frame.Width; ++x) {
      const int cx = frame.Left + x;
      if (cx < 0 || cx >= image.width) continue;
      put(&image.rgb[(static_cast<size_t>(cy) * image.width + cx) * 3], indices[static_cast<size_t>(y) * frame.Width + x]);
    }
  }
  return image;
}

// ---- BMP -----------------------------------------------------------------------------------

namespace {

uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

}  // namespace

Image DecodeBmp(const uint8_t* data, size_t size, const std::string& what) {
  if (size < 26) Fail(what, ": truncated BMP header (", size, " bytes)");
  const uint32_t pixel_offset = Le32(data + 10);
  const uint32_t header_size = Le32(data + 14);
  int64_t width, height;
  uint32_t bits, compression = 0;
  if (header_size == 12) {  // OS/2 BITMAPCOREHEADER
    width = Le16(data + 18);
    height = Le16(data + 20);
    bits = Le16(data + 24);
  } else {
    if (size < 34) Fail(what, ": truncated BMP header (", size, " bytes)");
    width = static_cast<int32_t>(Le32(data + 18));
    height = static_cast<int32_t>(Le32(data + 22));  // negative: rows stored top down
    bits = Le16(data + 28);
    compression = Le32(data + 30);
  }
  CheckImageSize(width, height < 0 ? -height : height, what);
  // Uncompressed rows (BI_RGB, BI_BITFIELDS) have a known size: a short file is truncated.
  if (compression == 0 || compression == 3) {
    const int64_t stride = (width * bits + 31) / 32 * 4;
    const int64_t needed = static_cast<int64_t>(pixel_offset) + stride * (height < 0 ? -height : height);
    if (needed > static_cast<int64_t>(size)) {
      Fail(what, ": truncated BMP: its pixels need ", needed, " bytes, the file has ", size);
    }
  }
  if (size > static_cast<size_t>(INT32_MAX)) Fail(what, ": BMP file too large");
  int w = 0, h = 0, channels = 0;
  stbi_uc* pixels = stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &channels, 3);
  if (pixels == nullptr) Fail(what, ": not a readable BMP file: ", stbi_failure_reason());
  Image image;
  image.width = w;
  image.height = h;
  image.rgb.assign(pixels, pixels + static_cast<size_t>(w) * h * 3);
  stbi_image_free(pixels);
  return image;
}

}  // namespace g4::media_internal
