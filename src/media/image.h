// Still images decoded to 8-bit RGB with Debian's libraries: PNG (libpng's simplified read API),
// JPEG (libjpeg-turbo, EXIF orientation applied through libexif), WebP (libwebp; still images),
// GIF (giflib; the first frame) and BMP (stb_image). The format is sniffed from the first bytes.
//
// Limits are checked from the header, before any pixel memory is allocated: an image that
// claims more than kMaxImagePixels is refused, so a small file cannot ask for gigabytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace g4 {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // [height][width][3], rows top to bottom

  const uint8_t* pixel(int x, int y) const { return rgb.data() + (static_cast<size_t>(y) * width + x) * 3; }
};

// The largest image g4 decodes: 64 Mpx (e.g. 8192 x 8192), 192 MiB of RGB.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

// Decodes an image held in memory. `what` names it in errors ("image.png", "message 2 part 1").
// Grayscale is replicated to RGB, palettes are expanded, 16-bit samples are reduced to 8 bits,
// and an alpha channel is dropped (as PIL's convert("RGB") does). Throws g4::Error naming `what`
// for an empty, truncated, corrupt, unsupported or oversized image.
Image DecodeImage(const uint8_t* data, size_t size, const std::string& what);
// Reads and decodes a file; errors name the path.
Image DecodeImageFile(const std::string& path);

}  // namespace g4
