// Helpers shared by the Arm NEON kernel files (kernels_neon.cc: float kernels and the table;
// kernels_neon_quant.cc: the two quantized schemes). Only those files include this header, and
// only on AArch64, where Advanced SIMD is part of the base architecture: no target attributes
// and no run-time check are needed for it.
#pragma once

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "ops/kernels.h"

namespace g4 {
namespace neon {

// The 8 lanes of kernels.h's float accumulators are two 4-lane registers: lo (lanes 0-3) and
// hi (lanes 4-7).
struct Acc8 {
  float32x4_t lo, hi;
};

inline Acc8 ZeroAcc8() { return {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}; }

// Sum8 of kernels.h: ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)).
inline float Sum8(Acc8 a) {
  const float32x4_t s = vaddq_f32(a.lo, a.hi);
  return (vgetq_lane_f32(s, 0) + vgetq_lane_f32(s, 2)) + (vgetq_lane_f32(s, 1) + vgetq_lane_f32(s, 3));
}

inline float HalfAt(const uint8_t* p) {
  __fp16 h;
  std::memcpy(&h, p, 2);
  return static_cast<float>(h);
}

// exp(x) for x <= 88, the same Cephes polynomial as the AVX2 kernels (about 1 ulp); inputs
// below -87 give 0.
inline float32x4_t Exp(float32x4_t x) {
  x = vmaxq_f32(x, vdupq_n_f32(-87.0f));
  const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), vmulq_f32(p, r), r);
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127)), 23);
  return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

// tanh: an odd Taylor polynomial below |x| = 0.3125, else (1 - e) / (1 + e) with
// e = exp(-2|x|); the sign put back at the end (as in the AVX2 kernels).
inline float32x4_t Tanh(float32x4_t x) {
  const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(x), vdupq_n_u32(0x80000000u));
  const float32x4_t a = vabsq_f32(x);
  const float32x4_t e = Exp(vmulq_f32(a, vdupq_n_f32(-2.0f)));
  const float32x4_t one = vdupq_n_f32(1.0f);
  const float32x4_t big = vdivq_f32(vsubq_f32(one, e), vaddq_f32(one, e));
  const float32x4_t a2 = vmulq_f32(a, a);
  float32x4_t p = vdupq_n_f32(-1382.0f / 155925.0f);
  p = vfmaq_f32(vdupq_n_f32(62.0f / 2835.0f), p, a2);
  p = vfmaq_f32(vdupq_n_f32(-17.0f / 315.0f), p, a2);
  p = vfmaq_f32(vdupq_n_f32(2.0f / 15.0f), p, a2);
  p = vfmaq_f32(vdupq_n_f32(-1.0f / 3.0f), p, a2);
  const float32x4_t small = vfmaq_f32(a, vmulq_f32(p, a2), a);
  const float32x4_t t = vbslq_f32(vcltq_f32(a, vdupq_n_f32(0.3125f)), small, big);
  return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(t), sign));
}

// The quantized schemes (kernels_neon_quant.cc).
void QuantizeActs(const float* x, int64_t k, int16_t* q, float* d);
void QuantizeActsU8(const float* x, int64_t k, uint8_t* u, float* d, float* mn, int32_t* s);
void MatQ4_0U8(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y, int64_t y_stride);
// The same with the Armv8.2 dot product (SimdLevel::kNeonDot only).
void MatQ4_0U8Dot(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y, int64_t y_stride);
void MatQ8_0(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y, int64_t y_stride);

}  // namespace neon
}  // namespace g4
