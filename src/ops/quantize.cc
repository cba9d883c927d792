// Float -> storage-type conversion, bit-compatible with ggml's reference (non-SIMD)
// quantizers, so files written by g4 tools match what llama.cpp would write for the same floats.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "base/error.h"
#include "base/half.h"
#include "ops/dtype.h"

namespace g4 {
namespace {

constexpr int64_t kQBlock = 32;
constexpr size_t kQ8_0BlockBytes = 2 + kQBlock;      // f16 scale + 32 int8
constexpr size_t kQ4_0BlockBytes = 2 + kQBlock / 2;  // f16 scale + 16 bytes of nibbles

void StoreU16(uint8_t* dst, uint16_t v) { std::memcpy(dst, &v, 2); }

// roundf (halves away from zero) for |v| < 2^23, without the libm call that dominated the
// Q8_0 quantizer: the truncated integer part and the remainder are both exact.
inline int RoundHalfAway(float v) {
  const int i = static_cast<int>(v);
  const float frac = v - static_cast<float>(i);
  return i + (frac >= 0.5f) - (frac <= -0.5f);
}

void QuantizeQ8_0(const float* src, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQBlock; ++b) {
    const float* x = src + b * kQBlock;
    uint8_t* block = dst + b * kQ8_0BlockBytes;
    float amax = 0.0f;
    for (int64_t j = 0; j < kQBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    StoreU16(block, FloatToHalf(d));
    auto* qs = reinterpret_cast<int8_t*>(block + 2);
    // ggml multiplies by the reciprocal (not divides), which can differ in the last bit.
    for (int64_t j = 0; j < kQBlock; ++j) qs[j] = static_cast<int8_t>(RoundHalfAway(x[j] * id));
  }
}

void QuantizeQ4_0(const float* src, uint8_t* dst, int64_t n) {
  constexpr int64_t kHalf = kQBlock / 2;
  for (int64_t b = 0; b < n / kQBlock; ++b) {
    const float* x = src + b * kQBlock;
    uint8_t* block = dst + b * kQ4_0BlockBytes;
    // The scale is signed: the element of largest magnitude maps exactly to -8, which uses the
    // one extra negative level of the 4-bit range.
    // ggml keeps the first element of largest magnitude; two passes let the first vectorize.
    float amax = 0.0f;
    for (int64_t j = 0; j < kQBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
    float max = 0.0f;  // stays +0 for an all-zero block, as in ggml (-0 entries included)
    for (int64_t j = 0; j < kQBlock && amax > 0.0f; ++j) {
      if (std::fabs(x[j]) == amax) {
        max = x[j];
        break;
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    StoreU16(block, FloatToHalf(d));
    uint8_t* qs = block + 2;
    for (int64_t j = 0; j < kHalf; ++j) {
      // x*id lies in [-8, 8]; +8.5 then truncation rounds to nearest, clamped to 15.
      const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
      const int hi = std::min(15, static_cast<int>(static_cast<int8_t>(x[kHalf + j] * id + 8.5f)));
      qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

}  // namespace

void QuantizeRow(DType type, const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  switch (type) {
    case DType::kF32:
      std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) StoreU16(out + 2 * i, FloatToHalf(src[i]));
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) StoreU16(out + 2 * i, FloatToBf16(src[i]));
      return;
    case DType::kQ8_0:
    case DType::kQ4_0:
      if (n % kQBlock != 0) {
        Fail("QuantizeRow: ", n, " values is not a multiple of the ", kQBlock, "-value block of ",
             type == DType::kQ8_0 ? "q8_0" : "q4_0");
      }
      if (type == DType::kQ8_0) {
        QuantizeQ8_0(src, out, n);
      } else {
        QuantizeQ4_0(src, out, n);
      }
      return;
    default:
      Fail("QuantizeRow: no quantizer for ggml type id ", static_cast<uint32_t>(type),
           " (supported: f32, f16, bf16, q8_0, q4_0)");
  }
}

}  // namespace g4
