// Image decoding against PIL: PIL writes JPEG (every EXIF orientation), WebP (lossless and
// lossy), GIF and BMP files from a known RGB image at test time and decodes them itself; ours
// must give the same pixels. Bad input of each format ends in an error naming the file.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <string>
#include <vector>

#include "media/image.h"
#include "media_test_util.h"

namespace g4 {
namespace {

using namespace media_test;  // NOLINT: the test helpers

const std::string kOracle = media_test::kPython + " " + Quote(media_test::kPilOracle);

// Writes `image` as FORMAT through PIL; returns the file's bytes.
std::vector<uint8_t> PilEncode(const Image& image, const std::string& format, const std::string& option = "") {
  const std::string raw = TempPath(".rgb");
  const std::string out = TempPath("." + format);
  media_test::WriteBytes(raw, image.rgb.data(), image.rgb.size());
  RunCommand(kOracle + " encode " + raw + " " + std::to_string(image.width) + " " + std::to_string(image.height) +
             " " + format + " " + out + " " + option);
  std::vector<uint8_t> bytes = ReadBytes(out);
  std::remove(raw.c_str());
  std::remove(out.c_str());
  return bytes;
}

// PIL's decoding of `bytes` (first frame, EXIF orientation applied, RGB).
Image PilDecode(const std::vector<uint8_t>& bytes) {
  const std::string in = TempPath(".img");
  const std::string raw = TempPath(".rgb");
  media_test::WriteBytes(in, bytes.data(), bytes.size());
  const std::string size = RunCommand(kOracle + " decode " + in + " " + raw);
  Image image;
  std::sscanf(size.c_str(), "%d %d", &image.width, &image.height);
  image.rgb = ReadBytes(raw);
  std::remove(in.c_str());
  std::remove(raw.c_str());
  return image;
}

void ExpectSameAsPil(const std::vector<uint8_t>& bytes, const std::string& label) {
  const Image expected = PilDecode(bytes);
  const Image ours = DecodeImage(bytes.data(), bytes.size(), label);
  ASSERT_EQ(ours.width, expected.width) << label;
  ASSERT_EQ(ours.height, expected.height) << label;
  ASSERT_EQ(expected.rgb.size(), static_cast<size_t>(expected.width) * expected.height * 3) << label;
  EXPECT_EQ(media_test::MaxPixelDifference(ours, expected), 0) << label;
}

// Odd sizes, wider than tall, so that every rotation and mirror is visible.
const Image kSource = media_test::PatternImage(67, 41);

TEST(ImageDecode, JpegMatchesPilForEveryExifOrientation) {
  for (int orientation = 1; orientation <= 8; ++orientation) {
    const std::vector<uint8_t> jpeg = PilEncode(kSource, "JPEG", "orientation=" + std::to_string(orientation));
    ExpectSameAsPil(jpeg, "orientation " + std::to_string(orientation));
    const Image ours = DecodeImage(jpeg.data(), jpeg.size(), "x.jpg");
    EXPECT_EQ(ours.width, orientation >= 5 ? 41 : 67) << orientation;
  }
  // Orientation 6 (stored turned left): the stored top-left corner ends at the top right.
  const std::vector<uint8_t> jpeg = PilEncode(kSource, "JPEG", "orientation=6");
  const Image upright = DecodeImage(jpeg.data(), jpeg.size(), "x.jpg");
  const std::vector<uint8_t> plain = PilEncode(kSource, "JPEG");
  const Image stored = DecodeImage(plain.data(), plain.size(), "y.jpg");
  EXPECT_EQ(std::memcmp(upright.pixel(upright.width - 1, 0), stored.pixel(0, 0), 3), 0);
}

TEST(ImageDecode, WebpLosslessIsExactAndLossyMatchesPil) {
  const std::vector<uint8_t> lossless = PilEncode(kSource, "WEBP", "lossless");
  const Image ours = DecodeImage(lossless.data(), lossless.size(), "x.webp");
  EXPECT_EQ(ours.rgb, kSource.rgb);
  ExpectSameAsPil(lossless, "lossless WebP");
  ExpectSameAsPil(PilEncode(kSource, "WEBP", "lossy"), "lossy WebP");
}

TEST(ImageDecode, GifGivesTheFirstFrame) {
  const std::vector<uint8_t> gif = PilEncode(kSource, "GIF");
  ExpectSameAsPil(gif, "GIF");
  const Image ours = DecodeImage(gif.data(), gif.size(), "x.gif");
  // The second frame is solid magenta; the first is the (palette-reduced) pattern.
  int magenta = 0;
  for (size_t i = 0; i < ours.rgb.size(); i += 3) magenta += ours.rgb[i] == 255 && ours.rgb[i + 1] == 0 && ours.rgb[i + 2] == 255;
  EXPECT_LT(magenta, ours.width * ours.height / 2);
}

TEST(ImageDecode, BmpAndPngAreExact) {
  for (const char* format : {"BMP", "PNG"}) {
    const std::vector<uint8_t> bytes = PilEncode(kSource, format);
    const Image ours = DecodeImage(bytes.data(), bytes.size(), format);
    EXPECT_EQ(ours.width, kSource.width) << format;
    EXPECT_EQ(ours.rgb, kSource.rgb) << format;
  }
}

// ---- bad input ------------------------------------------------------------------------------

std::string DecodeError(const std::vector<uint8_t>& bytes) {
  return ErrorText([&] { DecodeImage(bytes.data(), bytes.size(), "photo.bin"); });
}

void ExpectError(const std::vector<uint8_t>& bytes, const std::string& fragment, const std::string& label) {
  const std::string message = DecodeError(bytes);
  EXPECT_NE(message.find("photo.bin"), std::string::npos) << label << ": " << message;
  EXPECT_NE(message.find(fragment), std::string::npos) << label << ": '" << fragment << "' not in: " << message;
}

void PutBe(std::vector<uint8_t>& b, size_t at, uint32_t v, int n) {
  for (int i = 0; i < n; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}
void PutLe(std::vector<uint8_t>& b, size_t at, uint32_t v, int n) {
  for (int i = 0; i < n; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

// Each format's header rewritten to claim a huge canvas over the same small data.
std::vector<uint8_t> ClaimHugeSize(std::vector<uint8_t> b, const std::string& format) {
  if (format == "PNG") {  // IHDR data at 16..28, its CRC after; libpng checks the CRC first
    PutBe(b, 16, 50000, 4);
    PutBe(b, 20, 50000, 4);
    PutBe(b, 29, static_cast<uint32_t>(crc32(0, &b[12], 17)), 4);  // zlib's CRC-32
  } else if (format == "JPEG") {  // SOF0 segment: FF C0, length, precision, height, width
    for (size_t i = 2; i + 9 < b.size(); ++i) {
      if (b[i] == 0xff && b[i + 1] == 0xc0) {
        PutBe(b, i + 5, 50000, 2);
        PutBe(b, i + 7, 50000, 2);
        break;
      }
    }
  } else if (format == "WEBP") {  // VP8L: 14-bit width-1 and height-1 after the 0x2f signature
    const uint32_t bits = (b[21] | b[22] << 8 | b[23] << 16 | static_cast<uint32_t>(b[24]) << 24);
    PutLe(b, 21, (bits & 0xf0000000u) | 16383u | 16383u << 14, 4);  // 16384 x 16384
  } else if (format == "GIF") {  // logical screen size
    PutLe(b, 6, 50000, 2);
    PutLe(b, 8, 50000, 2);
  } else if (format == "BMP") {
    PutLe(b, 18, 50000, 4);
    PutLe(b, 22, 50000, 4);
  }
  return b;
}

TEST(ImageDecodeBadInput, EveryFormatRefusesAHugeClaimedSizeBeforeAllocating) {
  for (const char* format : {"PNG", "JPEG", "WEBP", "GIF", "BMP"}) {
    const std::vector<uint8_t> huge =
        ClaimHugeSize(PilEncode(kSource, format, std::string(format) == "WEBP" ? "lossless" : ""), format);
    ExpectError(huge, "nothing was allocated", format);
  }
}

TEST(ImageDecodeBadInput, EveryFormatRefusesTruncatedData) {
  for (const char* format : {"PNG", "JPEG", "WEBP", "GIF", "BMP"}) {
    std::vector<uint8_t> bytes = PilEncode(kSource, format, std::string(format) == "WEBP" ? "lossy" : "");
    bytes.resize(bytes.size() * 2 / 3);
    const std::string message = DecodeError(bytes);
    EXPECT_NE(message.find("photo.bin"), std::string::npos) << format << ": " << message;
    EXPECT_NE(message, "(no error)") << format;
    bytes.resize(std::min<size_t>(bytes.size(), 12));  // cut inside the header
    EXPECT_NE(DecodeError(bytes).find("photo.bin"), std::string::npos) << format;
  }
}

TEST(ImageDecodeBadInput, CorruptData) {
  // PNG: a flipped bit in the image data breaks its CRC; JPEG: garbage in the entropy-coded
  // data is a libjpeg warning, which g4 treats as an error rather than decoding grey blocks.
  for (const char* format : {"PNG", "JPEG"}) {
    std::vector<uint8_t> bytes = PilEncode(kSource, format);
    for (size_t i = bytes.size() / 2; i < bytes.size() / 2 + 32; ++i) bytes[i] = 0xff;
    ExpectError(bytes, "", format);
    EXPECT_NE(DecodeError(bytes), "(no error)") << format;
  }
}

TEST(ImageDecodeBadInput, EmptyAndUnsupported) {
  ExpectError({}, "empty", "empty");
  ExpectError({'I', 'I', '*', 0, 8, 0, 0, 0}, "unsupported image format", "TIFF");
  ExpectError({'h', 'e', 'l', 'l', 'o'}, "unsupported image format", "text");
  ExpectError({'B'}, "unsupported image format", "one byte");
}

}  // namespace
}  // namespace g4
