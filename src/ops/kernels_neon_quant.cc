// NEON kernels of the two quantized schemes of kernels.h: activation quantization, Q8_0 rows x
// int16 activations and Q4_0 rows x asymmetric bytes. Each output follows the float sequence
// kernels.h fixes, so the results equal the scalar twins (kernels_scalar.cc) bit for bit; the
// integer dots are exact in any order. The loops take a row's blocks once for up to four tokens
// (weights unpacked once, each token's block read from L1); they read neither grouped layout.
#include "ops/kernels.h"

#if defined(__aarch64__)

#include <cmath>
#include <cstring>

#include "ops/kernels_neon.h"

namespace g4 {
namespace neon {

namespace {

constexpr int kQ4Bytes = 18;  // f16 scale + 16 bytes of nibbles
constexpr int kQ8Bytes = 34;  // f16 scale + 32 int8
constexpr int kTokensPerPass = 4;

// The eight float lanes of up to kTokensPerPass tokens for one row. The float step of both
// schemes is one scalar fma per block and token (its order is what kernels.h fixes), next to
// 32 integer multiply-adds.
struct TokenLanes {
  float acc[kTokensPerPass][kLaneGroup];
};

// Exact dot of one Q8_0 block's weights (even then odd values, widened) with 32 int16
// activations in the stored order (ActPos: evens of the block first, then odds), which is the
// order vld2q_s8 gives the weights in.
inline int32_t DotQ8Block(const int16x8_t* w, const int16_t* q) {
  const int16x8_t q0 = vld1q_s16(q), q1 = vld1q_s16(q + 8), q2 = vld1q_s16(q + 16), q3 = vld1q_s16(q + 24);
  int32x4_t a = vmull_s16(vget_low_s16(w[0]), vget_low_s16(q0));
  int32x4_t b = vmull_high_s16(w[0], q0);
  a = vmlal_s16(a, vget_low_s16(w[1]), vget_low_s16(q1));
  b = vmlal_high_s16(b, w[1], q1);
  a = vmlal_s16(a, vget_low_s16(w[2]), vget_low_s16(q2));
  b = vmlal_high_s16(b, w[2], q2);
  a = vmlal_s16(a, vget_low_s16(w[3]), vget_low_s16(q3));
  b = vmlal_high_s16(b, w[3], q3);
  return vaddvq_s32(vaddq_s32(a, b));
}

void RowQ8(const uint8_t* row, const QActs& x, int64_t t0, int tokens, float* out) {
  const int64_t nb = x.k / kActBlock, nbp = PaddedBlocks(x.k);
  TokenLanes lanes = {};
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* block = row + b * kQ8Bytes;
    const int8x16x2_t v = vld2q_s8(reinterpret_cast<const int8_t*>(block + 2));
    const int16x8_t w[4] = {vmovl_s8(vget_low_s8(v.val[0])), vmovl_high_s8(v.val[0]), vmovl_s8(vget_low_s8(v.val[1])),
                            vmovl_high_s8(v.val[1])};
    const float dw = HalfAt(block);
    for (int t = 0; t < tokens; ++t) {
      const int32_t dot = DotQ8Block(w, x.q + (t0 + t) * x.k + b * kActBlock);
      float& a = lanes.acc[t][b % kLaneGroup];
      a = std::fma(static_cast<float>(dot), dw * x.d[(t0 + t) * nbp + b], a);
    }
  }
  for (int t = 0; t < tokens; ++t) {
    const float* a = lanes.acc[t];
    out[t] = Sum8({vld1q_f32(a), vld1q_f32(a + 4)});
  }
}

// sum_i nibble_i * u_i over one Q4_0 block and one token's 32 bytes (U8Pos: the low nibbles'
// partners at lo_bytes, the high nibbles' 32 bytes on). Every 16-bit lane adds four products
// of at most 15 * 255, so it cannot overflow.
inline uint32_t NibbleByteDot(uint8x16_t lo, uint8x16_t hi, const uint8_t* lo_bytes) {
  const uint8x16_t ulo = vld1q_u8(lo_bytes), uhi = vld1q_u8(lo_bytes + 32);
  uint16x8_t p = vmull_u8(vget_low_u8(lo), vget_low_u8(ulo));
  p = vmlal_high_u8(p, lo, ulo);
  p = vmlal_u8(p, vget_low_u8(hi), vget_low_u8(uhi));
  p = vmlal_high_u8(p, hi, uhi);
  return vaddlvq_u16(p);
}

// The same with the Armv8.2 dot product (UDOT: four byte products per 32-bit lane), for
// SimdLevel::kNeonDot only.
#define G4_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
G4_DOTPROD inline uint32_t NibbleByteUdot(uint8x16_t lo, uint8x16_t hi, const uint8_t* lo_bytes) {
  return vaddvq_u32(vdotq_u32(vdotq_u32(vdupq_n_u32(0), lo, vld1q_u8(lo_bytes)), hi, vld1q_u8(lo_bytes + 32)));
}

// The row loop of the byte scheme, defined once per block dot (NAME: the function, with the
// target attribute ATTR, that the dot needs to be inlined; DOT: NibbleByteDot or
// NibbleByteUdot).
#define G4_ROW_Q4_U8(NAME, ATTR, DOT)                                                              \
  ATTR void NAME(const uint8_t* row, const QActs& x, int64_t t0, int tokens, float* out) {        \
    const int64_t nb = x.k / kActBlock, nbp = PaddedBlocks(x.k), token_bytes = U8TokenBytes(x.k); \
    TokenLanes lanes = {};                                                                         \
    for (int64_t b = 0; b < nb; ++b) {                                                             \
      const uint8_t* block = row + b * kQ4Bytes;                                                   \
      const uint8x16_t packed = vld1q_u8(block + 2);                                               \
      const uint8x16_t lo = vandq_u8(packed, vdupq_n_u8(0x0f)), hi = vshrq_n_u8(packed, 4);        \
      /* W = sum (nibble - 8); D = sum (nibble - 8) u = sum nibble u - s (s = 8 sum u). */         \
      const int32_t wsum = static_cast<int32_t>(vaddlvq_u8(lo) + vaddlvq_u8(hi)) - 8 * kActBlock;  \
      const float dw = HalfAt(block);                                                              \
      const int64_t slot = U8Slot(b);                                                              \
      for (int t = 0; t < tokens; ++t) {                                                           \
        const int64_t at = (t0 + t) * nbp + slot;                                                  \
        const uint8_t* u = x.u8 + (t0 + t) * token_bytes + U8Pos(b, 0);                            \
        const int32_t dot = static_cast<int32_t>(DOT(lo, hi, u)) - x.s[at];                        \
        const float t_b = std::fma(static_cast<float>(dot), x.d[at], static_cast<float>(wsum) * x.mn[at]); \
        float& a = lanes.acc[t][U8Lane(b)];                                                        \
        a = std::fma(t_b, dw, a);                                                                  \
      }                                                                                            \
    }                                                                                              \
    for (int t = 0; t < tokens; ++t) out[t] = Sum8({vld1q_f32(lanes.acc[t]), vld1q_f32(lanes.acc[t] + 4)}); \
  }
G4_ROW_Q4_U8(RowQ4U8, , NibbleByteDot)
G4_ROW_Q4_U8(RowQ4U8Dot, G4_DOTPROD, NibbleByteUdot)

using RowFn = void (*)(const uint8_t* row, const QActs& x, int64_t t0, int tokens, float* out);

template <RowFn kRow>
void MatRows(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y, int64_t y_stride) {
  float out[kTokensPerPass];
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
    for (int64_t t0 = 0; t0 < x.n; t0 += kTokensPerPass) {
      const int tokens = x.n - t0 < kTokensPerPass ? static_cast<int>(x.n - t0) : kTokensPerPass;
      kRow(row, x, t0, tokens, out);
      for (int t = 0; t < tokens; ++t) y[(t0 + t) * y_stride + r] = out[t];
    }
  }
}

}  // namespace

void QuantizeActs(const float* x, int64_t k, int16_t* q, float* d) {
  const int64_t nb = k / kActBlock;
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * kActBlock;
    // Four deinterleaving loads: e[i] / o[i] hold the even / odd values of xb[8i .. 8i+7], so
    // e[0..3] then o[0..3] is the stored order (ActPos).
    float32x4_t e[4], o[4];
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int i = 0; i < 4; ++i) {
      const float32x4x2_t v = vld2q_f32(xb + 8 * i);
      e[i] = v.val[0];
      o[i] = v.val[1];
      m = vmaxnmq_f32(m, vmaxnmq_f32(vabsq_f32(e[i]), vabsq_f32(o[i])));
    }
    const float scale = vmaxnmvq_f32(m) / 32767.0f;
    const float32x4_t inv = vdupq_n_f32(scale != 0.0f ? 1.0f / scale : 0.0f);
    int16_t* qb = q + b * kActBlock;
    for (int i = 0; i < 4; ++i) {
      // Round to nearest, ties to even (as nearbyint), then saturate to int16.
      vst1_s16(qb + 4 * i, vqmovn_s32(vcvtnq_s32_f32(vmulq_f32(e[i], inv))));
      vst1_s16(qb + 16 + 4 * i, vqmovn_s32(vcvtnq_s32_f32(vmulq_f32(o[i], inv))));
    }
    d[b] = scale;
  }
  for (int64_t b = nb; b < PaddedBlocks(k); ++b) d[b] = 0.0f;
}

void QuantizeActsU8(const float* x, int64_t k, uint8_t* u, float* d, float* mn, int32_t* s) {
  const int64_t nb = k / kActBlock;
  for (int64_t b = 0; b < PaddedBlocks(k); ++b) {
    const int64_t slot = U8Slot(b);
    uint8_t* lo_bytes = u + U8Pos(b, 0);
    if (b >= nb) {
      std::memset(lo_bytes, 0, 16);
      std::memset(lo_bytes + 32, 0, 16);
      d[slot] = mn[slot] = 0.0f;
      s[slot] = 0;
      continue;
    }
    const float* xb = x + b * kActBlock;
    float32x4_t v[8];
    for (int i = 0; i < 8; ++i) v[i] = vld1q_f32(xb + 4 * i);
    float32x4_t vmin = v[0], vmax = v[0];
    for (int i = 1; i < 8; ++i) {
      vmin = vminnmq_f32(vmin, v[i]);
      vmax = vmaxnmq_f32(vmax, v[i]);
    }
    const float lo = vminnmvq_f32(vmin), hi = vmaxnmvq_f32(vmax);
    const float scale = (hi - lo) / 255.0f;
    const float32x4_t inv = vdupq_n_f32(scale != 0.0f ? 1.0f / scale : 0.0f), low = vdupq_n_f32(lo);
    uint8x8_t bytes[4];
    for (int i = 0; i < 4; ++i) {
      // Round to nearest, ties to even; the conversion saturates below 0 and the narrowing
      // above 255, the scalar twin's clamp.
      const uint32x4_t a = vcvtnq_u32_f32(vmulq_f32(vsubq_f32(v[2 * i], low), inv));
      const uint32x4_t c = vcvtnq_u32_f32(vmulq_f32(vsubq_f32(v[2 * i + 1], low), inv));
      bytes[i] = vqmovn_u16(vcombine_u16(vqmovn_u32(a), vqmovn_u32(c)));
    }
    const uint8x16_t first = vcombine_u8(bytes[0], bytes[1]), second = vcombine_u8(bytes[2], bytes[3]);
    vst1q_u8(lo_bytes, first);
    vst1q_u8(lo_bytes + 32, second);
    d[slot] = scale;
    mn[slot] = lo;
    s[slot] = 8 * static_cast<int32_t>(vaddlvq_u8(first) + vaddlvq_u8(second));
  }
}

void MatQ4_0U8(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
               int64_t y_stride) {
  MatRows<RowQ4U8>(w, row_bytes, r0, r1, x, y, y_stride);
}

void MatQ4_0U8Dot(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
                  int64_t y_stride) {
  MatRows<RowQ4U8Dot>(w, row_bytes, r0, r1, x, y, y_stride);
}

void MatQ8_0(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y, int64_t y_stride) {
  MatRows<RowQ8>(w, row_bytes, r0, r1, x, y, y_stride);
}

}  // namespace neon
}  // namespace g4

#endif
