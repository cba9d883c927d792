// Arm NEON (AArch64 Advanced SIMD) kernels: the float kernels and the table (the quantized
// schemes are in kernels_neon_quant.cc). Every kernel whose float sequence kernels.h fixes keeps
// it exactly (8-lane accumulators as two 4-lane registers, the same Sum8), so the table equals
// the scalar one bit for bit there; the rest (dot_f32, exp, tanh, sum of squares) stay within
// the tolerances kernels.h states. Entries without a NEON version reuse the scalar ones.
// Reference twins: kernels_scalar.cc.
#include "ops/kernels.h"

#if defined(__aarch64__)

#include <cmath>
#include <cstring>

#include "ops/kernels_neon.h"

namespace g4 {
namespace neon {

namespace {

// Float rows: 4 values per load from a type-specific loader.
struct LoadF32 {
  static constexpr int kBytes = 4;
  static float32x4_t Load(const uint8_t* p) { return vld1q_f32(reinterpret_cast<const float*>(p)); }
  static float One(const uint8_t* p) { return F32At(p); }
};
struct LoadF16 {
  static constexpr int kBytes = 2;
  static float32x4_t Load(const uint8_t* p) { return vcvt_f32_f16(vld1_f16(reinterpret_cast<const float16_t*>(p))); }
  static float One(const uint8_t* p) { return HalfAt(p); }
};
struct LoadBf16 {
  static constexpr int kBytes = 2;
  static float32x4_t Load(const uint8_t* p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(reinterpret_cast<const uint16_t*>(p)), 16));
  }
  static float One(const uint8_t* p) { return Bf16At(p); }
};

constexpr int kTokens = 4;

// The float scheme's value of one chunk (m values of a stored row at w) for `tokens` (<= 4)
// tokens x[t * x_stride ...]: lane l accumulates fma(w_i, x_i) over i = l, l + 8, ..., then
// Sum8. Each group of 8 weights is loaded (and converted) once for all tokens.
template <typename L>
void ChunkDots(const uint8_t* w, const float* x, int64_t x_stride, int tokens, int64_t m, float* out) {
  Acc8 acc[kTokens] = {ZeroAcc8(), ZeroAcc8(), ZeroAcc8(), ZeroAcc8()};
  int64_t i = 0;
  for (; i + 8 <= m; i += 8) {
    const float32x4_t w0 = L::Load(w + i * L::kBytes), w1 = L::Load(w + (i + 4) * L::kBytes);
    for (int t = 0; t < tokens; ++t) {
      const float* xt = x + t * x_stride + i;
      acc[t].lo = vfmaq_f32(acc[t].lo, w0, vld1q_f32(xt));
      acc[t].hi = vfmaq_f32(acc[t].hi, w1, vld1q_f32(xt + 4));
    }
  }
  for (int t = 0; t < tokens; ++t) {
    if (i < m) {
      // The last values add to the first lanes only, as in the scalar loop.
      float lanes[8];
      vst1q_f32(lanes, acc[t].lo);
      vst1q_f32(lanes + 4, acc[t].hi);
      for (int64_t j = 0; i + j < m; ++j) lanes[j] = std::fma(L::One(w + (i + j) * L::kBytes), x[t * x_stride + i + j], lanes[j]);
      acc[t] = {vld1q_f32(lanes), vld1q_f32(lanes + 4)};
    }
    out[t] = Sum8(acc[t]);
  }
}

template <typename L>
void GemvFloat(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* x, int64_t n, int64_t k,
               int64_t x_stride, float* y, int64_t y_stride) {
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
    for (int64_t t0 = 0; t0 < n; t0 += kTokens) {
      const int tokens = n - t0 < kTokens ? static_cast<int>(n - t0) : kTokens;
      float total[kTokens], part[kTokens];
      for (int64_t c0 = 0; c0 < k; c0 += kFloatChunk) {
        const int64_t m = k - c0 < kFloatChunk ? k - c0 : kFloatChunk;
        ChunkDots<L>(row + c0 * L::kBytes, x + t0 * x_stride + c0, x_stride, tokens, m, part);
        for (int t = 0; t < tokens; ++t) total[t] = c0 == 0 ? part[t] : total[t] + part[t];
      }
      for (int t = 0; t < tokens; ++t) y[(t0 + t) * y_stride + r] = total[t];
    }
  }
}

void GemmF32(const float* w, int64_t w_stride, int64_t rows, const float* x, int64_t x_stride, int64_t n, int64_t k,
             float* y, int64_t y_stride, bool accumulate) {
  float part[kTokens];
  for (int64_t t0 = 0; t0 < n; t0 += kTokens) {
    const int tokens = n - t0 < kTokens ? static_cast<int>(n - t0) : kTokens;
    for (int64_t r = 0; r < rows; ++r) {
      ChunkDots<LoadF32>(reinterpret_cast<const uint8_t*>(w + r * w_stride), x + t0 * x_stride, x_stride, tokens, k, part);
      for (int t = 0; t < tokens; ++t) {
        float& out = y[(t0 + t) * y_stride + r];
        out = accumulate ? out + part[t] : part[t];
      }
    }
  }
}

template <typename L>
void ToFloat(const uint8_t* row, float* out, int64_t k) {
  int64_t i = 0;
  for (; i + 4 <= k; i += 4) vst1q_f32(out + i, L::Load(row + i * L::kBytes));
  for (; i < k; ++i) out[i] = L::One(row + i * L::kBytes);
}

float DotF32(const float* a, const float* b, int64_t n) {
  float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
  }
  float sum = vaddvq_f32(vaddq_f32(s0, s1));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// Scores: each key row is the "row" of ChunkDots and up to four query heads its tokens.
void AttentionScores(const float* q, int nq, int64_t hd, const float* const* k_rows, int64_t n, float* scores) {
  float part[kTokens];
  for (int g0 = 0; g0 < nq; g0 += kTokens) {
    const int heads = nq - g0 < kTokens ? nq - g0 : kTokens;
    for (int64_t j = 0; j < n; ++j) {
      ChunkDots<LoadF32>(reinterpret_cast<const uint8_t*>(k_rows[j]), q + g0 * hd, hd, heads, hd, part);
      for (int g = 0; g < heads; ++g) scores[(g0 + g) * n + j] = part[g];
    }
  }
}

void AttentionValues(const float* p, int nq, int64_t hd, const float* const* v_rows, int64_t n, float* acc) {
  for (int g = 0; g < nq; ++g) {
    float* a = acc + g * hd;
    for (int64_t j = 0; j < n; ++j) {
      const float pj = p[g * n + j];
      const float* v = v_rows[j];
      int64_t i = 0;
      for (; i + 4 <= hd; i += 4) vst1q_f32(a + i, vfmaq_n_f32(vld1q_f32(a + i), vld1q_f32(v + i), pj));
      for (; i < hd; ++i) a[i] = std::fma(pj, v[i], a[i]);
    }
  }
}

// Two double lanes per accumulator, two accumulators, then the lanes in a fixed order.
double SumSquares(const float* x, int64_t n) {
  float64x2_t s0 = vdupq_n_f64(0.0), s1 = s0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    const float64x2_t a = vcvt_f64_f32(vget_low_f32(v)), b = vcvt_high_f64_f32(v);
    s0 = vfmaq_f64(s0, a, a);
    s1 = vfmaq_f64(s1, b, b);
  }
  double sum = vaddvq_f64(vaddq_f64(s0, s1));
  for (; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

float ExpShifted(float* x, int64_t n, float shift) {
  const float32x4_t s = vdupq_n_f32(shift);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) vst1q_f32(x + j, Exp(vsubq_f32(vld1q_f32(x + j), s)));
  for (; j < n; ++j) x[j] = std::exp(x[j] - shift);
  float sum = 0.0f;
  for (j = 0; j < n; ++j) sum += x[j];
  return sum;
}

void GeluMul(float* gate, const float* up, int64_t n) {
  const float32x4_t c0 = vdupq_n_f32(-2.0f * 0.7978845608028654f), c1 = vdupq_n_f32(0.044715f);
  const float32x4_t one = vdupq_n_f32(1.0f), limit = vdupq_n_f32(88.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t x = vld1q_f32(gate + i);
    const float32x4_t inner = vfmaq_f32(x, vmulq_f32(c1, x), vmulq_f32(x, x));
    // exp(-2z) overflows to inf for very negative x: x / inf = -0, the right limit.
    const float32x4_t e = Exp(vminq_f32(vmulq_f32(c0, inner), limit));
    vst1q_f32(gate + i, vmulq_f32(vdivq_f32(x, vaddq_f32(one, e)), vld1q_f32(up + i)));
  }
  for (; i < n; ++i) {
    const float x = gate[i];
    const float z = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    gate[i] = x / (1.0f + std::exp(-2.0f * z)) * up[i];
  }
}

void Softcap(float* x, int64_t n, float cap) {
  const float32x4_t c = vdupq_n_f32(cap), inv = vdupq_n_f32(1.0f / cap);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_f32(c, Tanh(vmulq_f32(vld1q_f32(x + i), inv))));
  for (; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

}  // namespace

}  // namespace neon

const KernelTable& NeonKernels() {
  static const KernelTable table = [] {
    KernelTable t = ScalarKernels();
    t.level = SimdLevel::kNeon;
    t.quantize_acts = neon::QuantizeActs;
    t.quantize_acts_u8 = neon::QuantizeActsU8;
    t.matmul_q4_0 = neon::MatQ4_0U8;
    t.matmul_q8_0 = neon::MatQ8_0;
    t.gemv_f32 = neon::GemvFloat<neon::LoadF32>;
    t.gemv_f16 = neon::GemvFloat<neon::LoadF16>;
    t.gemv_bf16 = neon::GemvFloat<neon::LoadBf16>;
    t.to_float_f16 = neon::ToFloat<neon::LoadF16>;
    t.to_float_bf16 = neon::ToFloat<neon::LoadBf16>;
    t.gemm_f32 = neon::GemmF32;
    t.dot_f32 = neon::DotF32;
    t.attention_scores = neon::AttentionScores;
    t.attention_values = neon::AttentionValues;
    t.exp_shifted = neon::ExpShifted;
    t.sum_squares = neon::SumSquares;
    t.gelu_mul = neon::GeluMul;
    t.softcap = neon::Softcap;
    return t;
  }();
  return table;
}

const KernelTable& NeonDotKernels() {
  static const KernelTable table = [] {
    KernelTable t = NeonKernels();
    t.level = SimdLevel::kNeonDot;
    t.matmul_q4_0 = neon::MatQ4_0U8Dot;
    return t;
  }();
  return table;
}

}  // namespace g4

#else  // not AArch64: no NEON tables; SupportedSimdLevels() never offers them.

namespace g4 {
const KernelTable& NeonKernels() { return ScalarKernels(); }
const KernelTable& NeonDotKernels() { return ScalarKernels(); }
}  // namespace g4

#endif
