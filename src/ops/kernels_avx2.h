// Helpers shared by the AVX2 kernel files (kernels_avx2.cc: float kernels and the table;
// kernels_avx2_quant.cc: the int16 scheme). Only those two files include this header, and only
// on x86-64 with GCC or Clang.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "ops/kernels.h"

#define G4_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace g4 {
namespace avx2 {

// The Sum8 order of kernels.h: (lanes 0-3 + lanes 4-7), then pairs, then the last two.
G4_AVX2 inline float HSum(__m256 v) {
  __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  a = _mm_add_ps(a, _mm_movehl_ps(a, a));
  a = _mm_add_ss(a, _mm_movehdup_ps(a));
  return _mm_cvtss_f32(a);
}

G4_AVX2 inline int32_t HSumI32(__m256i v) {
  __m128i a = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0x4e));
  a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0xb1));
  return _mm_cvtsi128_si32(a);
}

G4_AVX2 inline float HalfAt(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// The f16 scales of 8 consecutive blocks `stride` bytes apart, as floats. Built in general
// registers: storing the halves to memory and reloading them as one vector stalls on store
// forwarding.
template <int kStride>
G4_AVX2 inline __m256 EightScales(const uint8_t* p) {
  uint64_t lo = 0, hi = 0;
  for (int j = 0; j < 4; ++j) {
    uint16_t a, b;
    std::memcpy(&a, p + j * kStride, 2);
    std::memcpy(&b, p + (j + 4) * kStride, 2);
    uint64_t wa = a, wb = b;
    // Keeps GCC from turning this into vector shuffles, which cost more than integer ops here.
    asm("" : "+r"(wa), "+r"(wb));
    lo |= wa << (16 * j);
    hi |= wb << (16 * j);
  }
  return _mm256_cvtph_ps(_mm_set_epi64x(static_cast<int64_t>(hi), static_cast<int64_t>(lo)));
}

// The first `count` (< 8) of them; the other lanes are 0.
template <int kStride>
G4_AVX2 inline __m256 SomeScales(const uint8_t* p, int count) {
  alignas(16) uint16_t h[8] = {};
  for (int j = 0; j < count; ++j) std::memcpy(&h[j], p + j * kStride, 2);
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h)));
}

// The int16 scheme (kernels_avx2_quant.cc).
void QuantizeActs(const float* x, int64_t k, int16_t* q, float* d, int32_t* s);
size_t QuantPrefillScratch(int64_t rows, int64_t k);
void MatQ4_0(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y, int64_t y_stride);
void MatQ8_0(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y, int64_t y_stride);

}  // namespace avx2
}  // namespace g4
