#include "ops/row_dot.h"

#include <cstring>
#include <vector>

#include "base/error.h"
#include "base/half.h"
#include "ops/ops.h"

namespace g4 {

#if defined(__x86_64__) && defined(__GNUC__)
#define G4_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define G4_MULTIVERSION
#endif

namespace {

// Block scales are f16; a table avoids the branches of a bit-level conversion per block.
const float* HalfTable() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t i = 0; i < 65536; ++i) t[i] = HalfToFloat(static_cast<uint16_t>(i));
    return t;
  }();
  return table.data();
}

inline float BlockScale(const float* table, const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return table[bits];
}

// Lane-wise accumulators across blocks: the compiler keeps `acc` in vector registers and the
// horizontal sum happens once per row instead of once per 32-value block.
G4_MULTIVERSION
float DotQ4_0(const uint8_t* row, const float* x, int64_t n, const float* table) {
  float acc[16] = {};
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* block = row + b * 18;
    const uint8_t* qs = block + 2;
    const float* xb = x + b * 32;
    const float d = BlockScale(table, block);
#pragma omp simd
    for (int j = 0; j < 16; ++j) {
      acc[j] += d * (static_cast<float>((qs[j] & 0x0f) - 8) * xb[j] +
                     static_cast<float>((qs[j] >> 4) - 8) * xb[j + 16]);
    }
  }
  float total = 0.0f;
  for (float a : acc) total += a;
  return total;
}

G4_MULTIVERSION
float DotQ8_0(const uint8_t* row, const float* x, int64_t n, const float* table) {
  float acc[16] = {};
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* block = row + b * 34;
    const int8_t* qs = reinterpret_cast<const int8_t*>(block + 2);
    const float* xb = x + b * 32;
    const float d = BlockScale(table, block);
#pragma omp simd
    for (int j = 0; j < 16; ++j) {
      acc[j] += d * (static_cast<float>(qs[j]) * xb[j] + static_cast<float>(qs[j + 16]) * xb[j + 16]);
    }
  }
  float total = 0.0f;
  for (float a : acc) total += a;
  return total;
}

G4_MULTIVERSION
float DotBf16(const uint8_t* row, const float* x, int64_t n) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float w;
    std::memcpy(&w, &bits, 4);
    sum += w * x[i];
  }
  return sum;
}

}  // namespace

bool HasRowDot(DType type) {
  return type == DType::kF32 || type == DType::kBF16 || type == DType::kQ8_0 || type == DType::kQ4_0;
}

float RowDot(DType type, const uint8_t* row, const float* x, int64_t n) {
  switch (type) {
    case DType::kQ4_0:
      return DotQ4_0(row, x, n, HalfTable());
    case DType::kQ8_0:
      return DotQ8_0(row, x, n, HalfTable());
    case DType::kBF16:
      return DotBf16(row, x, n);
    case DType::kF32: {
      if (reinterpret_cast<uintptr_t>(row) % alignof(float) == 0) {
        return Dot(reinterpret_cast<const float*>(row), x, n);
      }
      std::vector<float> copy(static_cast<size_t>(n));
      std::memcpy(copy.data(), row, static_cast<size_t>(n) * 4);
      return Dot(copy.data(), x, n);
    }
    default:
      G4_CHECK(false, "RowDot has no kernel for ", DTypeName(type));
  }
}

}  // namespace g4
