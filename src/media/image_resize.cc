#include "media/image_resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/error.h"

namespace g4 {
namespace {

// PIL keeps filter weights as fixed point with 22 fractional bits: 8 bits of pixel value and 2
// bits of headroom for kernels whose partial sums leave [0, 1] fit in a 32-bit accumulator.
constexpr int kPrecisionBits = 32 - 8 - 2;

// Keys' cubic convolution kernel with a = -0.5 (PIL's BICUBIC, support 2).
double BicubicKernel(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// The taps of one output sample: source positions [first, first + weights.size()).
struct Taps {
  int first = 0;
  int count = 0;
};

// One axis of the resampling, as PIL precomputes it: each output sample's window in the source
// and its weights, normalised to sum 1 in double, then rounded (half away from zero) to fixed
// point. When shrinking, the kernel is stretched by the reduction factor, which antialiases.
struct AxisFilter {
  int taps_per_output = 0;
  std::vector<Taps> taps;       // [out_size]
  std::vector<int32_t> weights; // [out_size][taps_per_output]
};

AxisFilter MakeAxisFilter(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 2.0 * filter_scale;
  const double inverse_filter_scale = 1.0 / filter_scale;  // PIL multiplies by the reciprocal
  AxisFilter filter;
  filter.taps_per_output = static_cast<int>(std::ceil(support)) * 2 + 1;
  filter.taps.resize(out_size);
  filter.weights.assign(static_cast<size_t>(out_size) * filter.taps_per_output, 0);
  std::vector<double> w(filter.taps_per_output);
  for (int out = 0; out < out_size; ++out) {
    const double center = (out + 0.5) * scale;
    // PIL truncates toward zero after adding 0.5; the window is then clipped to the image.
    const int first = std::max(static_cast<int>(center - support + 0.5), 0);
    const int end = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int count = end - first;
    double sum = 0.0;
    for (int i = 0; i < count; ++i) {
      w[i] = BicubicKernel((i + first - center + 0.5) * inverse_filter_scale);
      sum += w[i];
    }
    int32_t* fixed = &filter.weights[static_cast<size_t>(out) * filter.taps_per_output];
    for (int i = 0; i < count; ++i) {
      const double normalised = sum != 0.0 ? w[i] / sum : w[i];
      const double scaled = normalised * (1 << kPrecisionBits);
      fixed[i] = static_cast<int32_t>(normalised < 0 ? scaled - 0.5 : scaled + 0.5);
    }
    filter.taps[out] = {first, count};
  }
  return filter;
}

uint8_t ClampToByte(int32_t accumulator) {
  const int32_t value = accumulator >> kPrecisionBits;  // arithmetic shift, as PIL's table lookup
  return static_cast<uint8_t>(std::clamp(value, 0, 255));
}

// Resamples along x (stride 3 between neighbours) or y (stride 3·width); the intermediate image
// is rounded to uint8 between the passes, as PIL does.
Image ResampleWidth(const Image& in, int width) {
  const AxisFilter filter = MakeAxisFilter(in.width, width);
  Image out;
  out.width = width;
  out.height = in.height;
  out.rgb.resize(static_cast<size_t>(width) * in.height * 3);
  for (int y = 0; y < in.height; ++y) {
    const uint8_t* row = in.rgb.data() + static_cast<size_t>(y) * in.width * 3;
    uint8_t* dst = out.rgb.data() + static_cast<size_t>(y) * width * 3;
    for (int x = 0; x < width; ++x) {
      const Taps taps = filter.taps[x];
      const int32_t* k = &filter.weights[static_cast<size_t>(x) * filter.taps_per_output];
      int32_t acc[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
      for (int i = 0; i < taps.count; ++i) {
        const uint8_t* p = row + static_cast<size_t>(taps.first + i) * 3;
        for (int c = 0; c < 3; ++c) acc[c] += p[c] * k[i];
      }
      for (int c = 0; c < 3; ++c) dst[x * 3 + c] = ClampToByte(acc[c]);
    }
  }
  return out;
}

Image ResampleHeight(const Image& in, int height) {
  const AxisFilter filter = MakeAxisFilter(in.height, height);
  Image out;
  out.width = in.width;
  out.height = height;
  const size_t row_bytes = static_cast<size_t>(in.width) * 3;
  out.rgb.resize(row_bytes * height);
  std::vector<int32_t> acc(row_bytes);
  for (int y = 0; y < height; ++y) {
    const Taps taps = filter.taps[y];
    const int32_t* k = &filter.weights[static_cast<size_t>(y) * filter.taps_per_output];
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int i = 0; i < taps.count; ++i) {
      const uint8_t* src = in.rgb.data() + static_cast<size_t>(taps.first + i) * row_bytes;
      for (size_t j = 0; j < row_bytes; ++j) acc[j] += src[j] * k[i];
    }
    uint8_t* dst = out.rgb.data() + static_cast<size_t>(y) * row_bytes;
    for (size_t j = 0; j < row_bytes; ++j) dst[j] = ClampToByte(acc[j]);
  }
  return out;
}

}  // namespace

bool IsImageTokenBudget(int max_soft_tokens) {
  for (int budget : kImageTokenBudgets) {
    if (max_soft_tokens == budget) return true;
  }
  return false;
}

ImageSize VisionInputSize(int width, int height, int max_soft_tokens, int side_multiple) {
  if (!IsImageTokenBudget(max_soft_tokens)) {
    Fail("image token budget ", max_soft_tokens, " is not one of 70, 140, 280, 560, 1120");
  }
  if (width <= 0 || height <= 0) Fail("image size ", width, "x", height, " has no pixels");
  if (side_multiple <= 0 || side_multiple % 3 != 0) Fail("side multiple ", side_multiple, " is not a positive multiple of 3");
  // max_patches = budget × pooling² with pooling 3; each patch covers (side_multiple/3)² pixels.
  const double patch = side_multiple / 3.0;
  const double max_patches = max_soft_tokens * 9.0;
  const double factor = std::sqrt(max_patches * patch * patch / (static_cast<double>(height) * width));
  int64_t target_h = static_cast<int64_t>(std::floor(factor * height / side_multiple)) * side_multiple;
  int64_t target_w = static_cast<int64_t>(std::floor(factor * width / side_multiple)) * side_multiple;
  // A very thin image rounds one side to 0: it gets one row of patches and the other side as
  // long as the aspect ratio asks, capped at the whole budget in one row.
  const int64_t longest = static_cast<int64_t>(max_soft_tokens) * side_multiple;
  if (target_h == 0 && target_w == 0) {
    Fail("image size ", width, "x", height, " cannot be fitted to ", max_soft_tokens, " tokens");
  }
  if (target_h == 0) {
    target_h = side_multiple;
    target_w = std::min<int64_t>(static_cast<int64_t>(width / height) * side_multiple, longest);
  } else if (target_w == 0) {
    target_w = side_multiple;
    target_h = std::min<int64_t>(static_cast<int64_t>(height / width) * side_multiple, longest);
  }
  return {static_cast<int>(target_w), static_cast<int>(target_h)};
}

Image ResizeBicubic(const Image& image, int width, int height) {
  if (width <= 0 || height <= 0) Fail("cannot resize an image to ", width, "x", height);
  if (image.width <= 0 || image.height <= 0) Fail("cannot resize an empty image");
  if (static_cast<int64_t>(width) * height > kMaxImagePixels) {
    Fail("resize target ", width, "x", height, " exceeds ", kMaxImagePixels, " pixels");
  }
  // PIL resamples the width first, then the height, and skips an axis whose size is unchanged.
  if (width == image.width && height == image.height) return image;
  if (width == image.width) return ResampleHeight(image, height);
  Image wide = ResampleWidth(image, width);
  if (height == image.height) return wide;
  return ResampleHeight(wide, height);
}

Image PrepareImageForVision(const Image& image, int max_soft_tokens, int side_multiple) {
  const ImageSize size = VisionInputSize(image.width, image.height, max_soft_tokens, side_multiple);
  return ResizeBicubic(image, size.width, size.height);
}

}  // namespace g4
