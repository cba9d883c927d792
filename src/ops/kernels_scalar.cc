// Plain C++ kernels: the fallback for any CPU and the reference twin every SIMD table is
// tested against. Integer block products are exact; float sums run in index order.
#include <cmath>
#include <cstring>

#include "base/half.h"
#include "ops/kernels.h"

namespace g4 {

namespace {

inline float LoadHalf(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return HalfToFloat(h);
}

void QuantizeActs(const float* x, int64_t k, int16_t* q, float* d, float* s) {
  for (int64_t b = 0; b < k / kActBlock; ++b) {
    const float* xb = x + b * kActBlock;
    float amax = 0.0f;
    for (int j = 0; j < kActBlock; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    const float scale = amax / 32767.0f;
    const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < kActBlock; ++j) {
      // nearbyint rounds ties to even, as the SIMD conversions do.
      float v = std::nearbyint(xb[j] * inv);
      v = std::fmin(32767.0f, std::fmax(-32768.0f, v));
      q[b * kActBlock + ActPos(j)] = static_cast<int16_t>(v);
      sum += static_cast<int32_t>(v);
    }
    d[b] = scale;
    s[b] = static_cast<float>(sum);
  }
}

// Block dot products in int32, scaled and summed in float.
void GemvQ4_0(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
              int64_t y_stride) {
  const int64_t nb = x.k / kActBlock;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
    for (int64_t t = 0; t < x.n; ++t) {
      const int16_t* q = x.q + t * x.k;
      float sum = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* block = row + b * 18;
        const int16_t* qb = q + b * kActBlock;
        int32_t dot = 0;
        for (int j = 0; j < 16; ++j) {
          dot += ((block[2 + j] & 0x0f) - 8) * qb[ActPos(j)];
          dot += ((block[2 + j] >> 4) - 8) * qb[ActPos(j + 16)];
        }
        sum += static_cast<float>(dot) * (LoadHalf(block) * x.d[t * nb + b]);
      }
      y[t * y_stride + r] = sum;
    }
  }
}

void GemvQ8_0(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
              int64_t y_stride) {
  const int64_t nb = x.k / kActBlock;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
    for (int64_t t = 0; t < x.n; ++t) {
      const int16_t* q = x.q + t * x.k;
      float sum = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* block = row + b * 34;
        const int8_t* wq = reinterpret_cast<const int8_t*>(block + 2);
        const int16_t* qb = q + b * kActBlock;
        int32_t dot = 0;
        for (int j = 0; j < kActBlock; ++j) dot += wq[j] * qb[ActPos(j)];
        sum += static_cast<float>(dot) * (LoadHalf(block) * x.d[t * nb + b]);
      }
      y[t * y_stride + r] = sum;
    }
  }
}

void ToFloatQ4_0(const uint8_t* row, float* out, int64_t k) {
  for (int64_t b = 0; b < k / kActBlock; ++b) {
    const uint8_t* block = row + b * 18;
    const float d = LoadHalf(block);
    for (int j = 0; j < 16; ++j) {
      out[b * 32 + j] = static_cast<float>((block[2 + j] & 0x0f) - 8) * d;
      out[b * 32 + j + 16] = static_cast<float>((block[2 + j] >> 4) - 8) * d;
    }
  }
}

void ToFloatQ8_0(const uint8_t* row, float* out, int64_t k) {
  for (int64_t b = 0; b < k / kActBlock; ++b) {
    const uint8_t* block = row + b * 34;
    const float d = LoadHalf(block);
    for (int j = 0; j < 32; ++j) out[b * 32 + j] = static_cast<float>(static_cast<int8_t>(block[2 + j])) * d;
  }
}

void ToFloatF16(const uint8_t* row, float* out, int64_t k) {
  for (int64_t i = 0; i < k; ++i) out[i] = LoadHalf(row + 2 * i);
}

void ToFloatBf16(const uint8_t* row, float* out, int64_t k) {
  for (int64_t i = 0; i < k; ++i) {
    uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    out[i] = Bf16ToFloat(h);
  }
}

void ToFloatF32(const uint8_t* row, float* out, int64_t k) { std::memcpy(out, row, static_cast<size_t>(k) * 4); }

template <ToFloatFn kConvert>
void GemvFloat(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* x, int64_t n, int64_t k,
               int64_t x_stride, float* y, int64_t y_stride) {
  const size_t elem = row_bytes / static_cast<size_t>(k);
  float row[256];
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* src = w + static_cast<size_t>(r) * row_bytes;
    for (int64_t t = 0; t < n; ++t) {
      const float* xt = x + t * x_stride;
      float sum = 0.0f;
      for (int64_t i0 = 0; i0 < k; i0 += 256) {
        const int64_t m = k - i0 < 256 ? k - i0 : 256;
        kConvert(src + static_cast<size_t>(i0) * elem, row, m);
        for (int64_t i = 0; i < m; ++i) sum += row[i] * xt[i0 + i];
      }
      y[t * y_stride + r] = sum;
    }
  }
}

void GemmF32(const float* w, int64_t w_stride, int64_t rows, const float* x, int64_t x_stride, int64_t n, int64_t k,
             float* y, int64_t y_stride, bool accumulate) {
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      float sum = 0.0f;
      for (int64_t i = 0; i < k; ++i) sum += w[r * w_stride + i] * x[t * x_stride + i];
      float& out = y[t * y_stride + r];
      out = accumulate ? out + sum : sum;
    }
  }
}

float DotF32(const float* a, const float* b, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void GeluMul(float* gate, const float* up, int64_t n) {
  const float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = 0; i < n; ++i) {
    const float x = gate[i];
    const float z = kSqrt2OverPi * (x + 0.044715f * x * x * x);
    gate[i] = 0.5f * x * (1.0f + std::tanh(z)) * up[i];
  }
}

void Softcap(float* x, int64_t n, float cap) {
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

}  // namespace

const KernelTable& ScalarKernels() {
  static const KernelTable table = {
      SimdLevel::kScalar,
      QuantizeActs,
      GemvQ4_0,
      GemvQ8_0,
      GemvFloat<ToFloatF32>,
      GemvFloat<ToFloatF16>,
      GemvFloat<ToFloatBf16>,
      ToFloatQ4_0,
      ToFloatQ8_0,
      ToFloatF16,
      ToFloatBf16,
      GemmF32,
      DotF32,
      GeluMul,
      Softcap,
  };
  return table;
}

const KernelTable& KernelsFor(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx2:
      return Avx2Kernels();
    case SimdLevel::kScalar:
      break;
  }
  return ScalarKernels();
}

}  // namespace g4
