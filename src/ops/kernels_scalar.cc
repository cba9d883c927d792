// Plain C++ kernels: the fallback for any CPU and the reference twin every SIMD table is
// tested against. The matmul kernels follow the float sequences of kernels.h literally, so the
// SIMD tables must match them bit for bit.
#include <algorithm>
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

// The Sum8 order of kernels.h.
inline float Sum8(const float* acc) {
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

void QuantizeActs(const float* x, int64_t k, int16_t* q, float* d) {
  const int64_t nb = k / kActBlock;
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * kActBlock;
    float amax = 0.0f;
    for (int j = 0; j < kActBlock; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    const float scale = amax / 32767.0f;
    const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
    for (int j = 0; j < kActBlock; ++j) {
      // nearbyint rounds ties to even, as the SIMD conversions do.
      float v = std::nearbyint(xb[j] * inv);
      v = std::fmin(32767.0f, std::fmax(-32768.0f, v));
      q[b * kActBlock + ActPos(j)] = static_cast<int16_t>(v);
    }
    d[b] = scale;
  }
  for (int64_t b = nb; b < PaddedBlocks(k); ++b) d[b] = 0.0f;
}

void QuantizeActsU8(const float* x, int64_t k, uint8_t* u, float* d, float* mn, int32_t* s) {
  const int64_t nb = k / kActBlock;
  std::fill(u, u + U8TokenBytes(k), uint8_t{0});
  for (int64_t b = 0; b < PaddedBlocks(k); ++b) {
    const int64_t slot = U8Slot(b);
    d[slot] = 0.0f;
    mn[slot] = 0.0f;
    s[slot] = 0;
    if (b >= nb) continue;
    const float* xb = x + b * kActBlock;
    float lo = xb[0], hi = xb[0];
    for (int j = 1; j < kActBlock; ++j) {
      lo = std::fmin(lo, xb[j]);
      hi = std::fmax(hi, xb[j]);
    }
    const float scale = (hi - lo) / 255.0f;
    const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < kActBlock; ++j) {
      const float v = std::fmin(255.0f, std::fmax(0.0f, std::nearbyint((xb[j] - lo) * inv)));
      u[U8Pos(b, j)] = static_cast<uint8_t>(v);
      sum += static_cast<int32_t>(v);
    }
    d[slot] = scale;
    mn[slot] = lo;
    s[slot] = 8 * sum;
  }
}

// The asymmetric 8-bit scheme of kernels.h for Q4_0 rows, one output at a time.
void MatQ4_0U8(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
               int64_t y_stride) {
  const int64_t nb = x.k / kActBlock, nbp = PaddedBlocks(x.k);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
    for (int64_t t = 0; t < x.n; ++t) {
      const uint8_t* u = x.u8 + t * U8TokenBytes(x.k);
      const float* d = x.d + t * nbp;
      const float* mn = x.mn + t * nbp;
      float acc[kLaneGroup] = {};
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* block = row + b * 18;
        int32_t dot = 0, wsum = 0;
        for (int j = 0; j < 16; ++j) {
          const int32_t w_lo = (block[2 + j] & 0x0f) - 8, w_hi = (block[2 + j] >> 4) - 8;
          dot += w_lo * u[U8Pos(b, j)] + w_hi * u[U8Pos(b, j + 16)];
          wsum += w_lo + w_hi;
        }
        const int64_t slot = U8Slot(b);
        const float t_b = std::fma(static_cast<float>(dot), d[slot], static_cast<float>(wsum) * mn[slot]);
        acc[U8Lane(b)] = std::fma(t_b, LoadHalf(block), acc[U8Lane(b)]);
      }
      y[t * y_stride + r] = Sum8(acc);
    }
  }
}

// The int16 scheme of kernels.h for Q8_0 rows, one output at a time.
void MatQ8_0(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
             int64_t y_stride) {
  const int64_t nb = x.k / kActBlock, nbp = PaddedBlocks(x.k);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
    for (int64_t t = 0; t < x.n; ++t) {
      const int16_t* q = x.q + t * x.k;
      const float* d = x.d + t * nbp;
      float acc[kLaneGroup] = {};
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* block = row + b * 34;
        const int8_t* wq = reinterpret_cast<const int8_t*>(block + 2);
        int32_t dot = 0;
        for (int j = 0; j < kActBlock; ++j) dot += wq[j] * q[b * kActBlock + ActPos(j)];
        acc[b % kLaneGroup] = std::fma(static_cast<float>(dot), LoadHalf(block) * d[b], acc[b % kLaneGroup]);
      }
      y[t * y_stride + r] = Sum8(acc);
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
  for (int64_t i = 0; i < k; ++i) out[i] = Bf16At(row + 2 * i);
}

void ToFloatF32(const uint8_t* row, float* out, int64_t k) { std::memcpy(out, row, static_cast<size_t>(k) * 4); }

// One chunk (k <= kFloatChunk) of the float scheme: Sum8 of the eight lane sums.
inline float ChunkDot(const float* w, const float* x, int64_t k) {
  float acc[kLaneGroup] = {};
  for (int64_t i = 0; i < k; ++i) acc[i % kLaneGroup] = std::fma(w[i], x[i], acc[i % kLaneGroup]);
  return Sum8(acc);
}

template <ToFloatFn kConvert>
void GemvFloat(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* x, int64_t n, int64_t k,
               int64_t x_stride, float* y, int64_t y_stride) {
  const size_t elem = row_bytes / static_cast<size_t>(k);
  float row[kFloatChunk];
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* src = w + static_cast<size_t>(r) * row_bytes;
    for (int64_t i0 = 0; i0 < k; i0 += kFloatChunk) {
      const int64_t m = k - i0 < kFloatChunk ? k - i0 : kFloatChunk;
      kConvert(src + static_cast<size_t>(i0) * elem, row, m);
      for (int64_t t = 0; t < n; ++t) {
        const float part = ChunkDot(row, x + t * x_stride + i0, m);
        float& out = y[t * y_stride + r];
        out = i0 == 0 ? part : out + part;
      }
    }
  }
}

void GemmF32(const float* w, int64_t w_stride, int64_t rows, const float* x, int64_t x_stride, int64_t n, int64_t k,
             float* y, int64_t y_stride, bool accumulate) {
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      const float part = ChunkDot(w + r * w_stride, x + t * x_stride, k);
      float& out = y[t * y_stride + r];
      out = accumulate ? out + part : part;
    }
  }
}

float DotF32(const float* a, const float* b, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// The reference loops keep no buffer between calls.
size_t NoQuantPrefillScratch(DType, int64_t, int64_t) { return 0; }

void AttentionScores(const float* q, int nq, int64_t hd, const float* const* k_rows, int64_t n, float* scores) {
  for (int g = 0; g < nq; ++g) {
    for (int64_t j = 0; j < n; ++j) {
      float acc[8] = {};
      for (int64_t i = 0; i < hd; ++i) acc[i % 8] = std::fma(q[g * hd + i], k_rows[j][i], acc[i % 8]);
      scores[g * n + j] = Sum8(acc);
    }
  }
}

void AttentionValues(const float* p, int nq, int64_t hd, const float* const* v_rows, int64_t n, float* acc) {
  for (int g = 0; g < nq; ++g) {
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t i = 0; i < hd; ++i) acc[g * hd + i] = std::fma(p[g * n + j], v_rows[j][i], acc[g * hd + i]);
    }
  }
}

double SumSquares(const float* x, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

float ExpShifted(float* x, int64_t n, float shift) {
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    x[j] = std::exp(x[j] - shift);
    sum += x[j];
  }
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

void GroupActsU8(const uint8_t* u, int64_t k, uint8_t* out) {
  for (int64_t g = 0; g < PaddedBlocks(k) / kLaneGroup; ++g) {
    for (int64_t b = g * kLaneGroup; b < (g + 1) * kLaneGroup; ++b) {
      for (int j = 0; j < kActBlock; ++j) out[g * 256 + (j / 4) * 32 + U8Lane(b) * 4 + j % 4] = u[U8Pos(b, j)];
    }
  }
}

void GroupActs(const int16_t* q, int64_t k, int16_t* out) {
  const int64_t nb = k / kActBlock;
  for (int64_t g = 0; g < PaddedBlocks(k) / kLaneGroup; ++g) {
    for (int j = 0; j < 16; ++j) {
      for (int i = 0; i < kLaneGroup; ++i) {
        int16_t* dst = out + g * 256 + j * 16 + i * 2;
        const int64_t b = g * kLaneGroup + i;
        dst[0] = b < nb ? q[b * kActBlock + 2 * j] : 0;
        dst[1] = b < nb ? q[b * kActBlock + 2 * j + 1] : 0;
      }
    }
  }
}

const KernelTable& ScalarKernels() {
  static const KernelTable table = {
      SimdLevel::kScalar,
      false,
      QuantizeActs,
      QuantizeActsU8,
      GroupActsU8,
      MatQ4_0U8,
      MatQ8_0,
      GemvFloat<ToFloatF32>,
      GemvFloat<ToFloatF16>,
      GemvFloat<ToFloatBf16>,
      ToFloatQ4_0,
      ToFloatQ8_0,
      ToFloatF16,
      ToFloatBf16,
      GemmF32,
      NoQuantPrefillScratch,
      DotF32,
      AttentionScores,
      AttentionValues,
      ExpShifted,
      SumSquares,
      GeluMul,
      Softcap,
  };
  return table;
}

const KernelTable& KernelsFor(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx2:
      return Avx2Kernels();
    case SimdLevel::kNeon:
      return NeonKernels();
    case SimdLevel::kNeonDot:
      return NeonDotKernels();
    case SimdLevel::kScalar:
      break;
  }
  return ScalarKernels();
}

}  // namespace g4
