// AVX2 + FMA + F16C kernels (x86-64-v3): the float kernels and the table (the int16 scheme is
// in kernels_avx2_quant.cc). Every function carries the target attribute instead
// of the whole file being compiled for AVX2, so nothing here leaks AVX2 code into inline
// functions shared with other files; keep this file free of STL templates for the same reason.
// Reference twins: kernels_scalar.cc.
#include "ops/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#include <cstring>

#include "ops/kernels_avx2.h"

namespace g4 {

namespace {

using avx2::HalfAt;
using avx2::HSum;

// Float rows: 8 values per step from a type-specific loader.
struct LoadF32 {
  static constexpr int kBytes = 4;
  G4_AVX2 static __m256 Load(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  static float One(const uint8_t* p) { return F32At(p); }
};
struct LoadF16 {
  static constexpr int kBytes = 2;
  G4_AVX2 static __m256 Load(const uint8_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  G4_AVX2 static float One(const uint8_t* p) { return HalfAt(p); }
};
struct LoadBf16 {
  static constexpr int kBytes = 2;
  G4_AVX2 static __m256 Load(const uint8_t* p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  static float One(const uint8_t* p) { return Bf16At(p); }
};

template <typename L>
G4_AVX2 float RowFloat(const uint8_t* row, const float* x, int64_t k) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    acc0 = _mm256_fmadd_ps(L::Load(row + i * L::kBytes), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(L::Load(row + (i + 8) * L::kBytes), _mm256_loadu_ps(x + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(L::Load(row + (i + 16) * L::kBytes), _mm256_loadu_ps(x + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(L::Load(row + (i + 24) * L::kBytes), _mm256_loadu_ps(x + i + 24), acc3);
  }
  for (; i + 8 <= k; i += 8) acc0 = _mm256_fmadd_ps(L::Load(row + i * L::kBytes), _mm256_loadu_ps(x + i), acc0);
  float sum = HSum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < k; ++i) sum += L::One(row + i * L::kBytes) * x[i];
  return sum;
}

// The float scheme of kernels.h for a few tokens: one 8-lane accumulator per token and chunk,
// exactly as GemmTile forms it for a converted row (the tail lanes multiply zeros, as its
// masked loads do).
template <typename L>
G4_AVX2 void GemvFloat(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* x, int64_t n,
                       int64_t k, int64_t x_stride, float* y, int64_t y_stride) {
  constexpr int kT = 4;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
    for (int64_t t0 = 0; t0 < n; t0 += kT) {
      const int tt = n - t0 < kT ? static_cast<int>(n - t0) : kT;
      float total[kT] = {};
      for (int64_t c0 = 0; c0 < k; c0 += kFloatChunk) {
        const int64_t m = k - c0 < kFloatChunk ? k - c0 : kFloatChunk;
        __m256 acc[kT];
        for (int t = 0; t < kT; ++t) acc[t] = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 8 <= m; i += 8) {
          const __m256 wv = L::Load(row + (c0 + i) * L::kBytes);
          for (int t = 0; t < tt; ++t) {
            acc[t] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + (t0 + t) * x_stride + c0 + i), acc[t]);
          }
        }
        if (i < m) {
          alignas(32) float wt[8] = {}, xt[8] = {};
          for (int64_t j = 0; j < m - i; ++j) wt[j] = L::One(row + (c0 + i + j) * L::kBytes);
          for (int t = 0; t < tt; ++t) {
            for (int64_t j = 0; j < m - i; ++j) xt[j] = x[(t0 + t) * x_stride + c0 + i + j];
            acc[t] = _mm256_fmadd_ps(_mm256_load_ps(wt), _mm256_load_ps(xt), acc[t]);
          }
        }
        for (int t = 0; t < tt; ++t) {
          const float part = HSum(acc[t]);
          total[t] = c0 == 0 ? part : total[t] + part;
        }
      }
      for (int t = 0; t < tt; ++t) y[(t0 + t) * y_stride + r] = total[t];
    }
  }
}

G4_AVX2 void ToFloatQ4_0(const uint8_t* row, float* out, int64_t k) {
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m256i eight = _mm256_set1_epi32(8);
  for (int64_t b = 0; b < k / kActBlock; ++b) {
    const uint8_t* bl = row + b * 18;
    const __m256 d = _mm256_set1_ps(HalfAt(bl));
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bl + 2));
    const __m128i lo = _mm_and_si128(v, low4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), low4);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int j = 0; j < 4; ++j) {
      const __m256i n = _mm256_sub_epi32(_mm256_cvtepu8_epi32(parts[j]), eight);
      _mm256_storeu_ps(out + b * 32 + 8 * j, _mm256_mul_ps(_mm256_cvtepi32_ps(n), d));
    }
  }
}

G4_AVX2 void ToFloatQ8_0(const uint8_t* row, float* out, int64_t k) {
  for (int64_t b = 0; b < k / kActBlock; ++b) {
    const uint8_t* bl = row + b * 34;
    const __m256 d = _mm256_set1_ps(HalfAt(bl));
    for (int j = 0; j < 4; ++j) {
      const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(bl + 2 + 8 * j));
      _mm256_storeu_ps(out + b * 32 + 8 * j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)), d));
    }
  }
}

template <typename L>
G4_AVX2 void ToFloat(const uint8_t* row, float* out, int64_t k) {
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) _mm256_storeu_ps(out + i, L::Load(row + i * L::kBytes));
  for (; i < k; ++i) out[i] = L::One(row + i * L::kBytes);
}

// Register-blocked product of kR weight rows and kT tokens: kR * kT vector accumulators over
// k, summed horizontally at the end.
template <int kR, int kT>
G4_AVX2 void GemmTile(const float* w, int64_t w_stride, const float* x, int64_t x_stride, int64_t k, float* y,
                      int64_t y_stride, bool accumulate) {
  __m256 acc[kR][kT];
  for (int r = 0; r < kR; ++r) {
    for (int t = 0; t < kT; ++t) acc[r][t] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    __m256 wv[kR];
    for (int r = 0; r < kR; ++r) wv[r] = _mm256_loadu_ps(w + r * w_stride + i);
    for (int t = 0; t < kT; ++t) {
      const __m256 xv = _mm256_loadu_ps(x + t * x_stride + i);
      for (int r = 0; r < kR; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  if (i < k) {
    // Masked loads read only the k - i remaining values.
    alignas(32) int32_t mask_bits[8];
    for (int j = 0; j < 8; ++j) mask_bits[j] = j < k - i ? -1 : 0;
    const __m256i mask = _mm256_load_si256(reinterpret_cast<const __m256i*>(mask_bits));
    __m256 wv[kR];
    for (int r = 0; r < kR; ++r) wv[r] = _mm256_maskload_ps(w + r * w_stride + i, mask);
    for (int t = 0; t < kT; ++t) {
      const __m256 xv = _mm256_maskload_ps(x + t * x_stride + i, mask);
      for (int r = 0; r < kR; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  for (int t = 0; t < kT; ++t) {
    for (int r = 0; r < kR; ++r) {
      const float sum = HSum(acc[r][t]);
      float& out = y[t * y_stride + r];
      out = accumulate ? out + sum : sum;
    }
  }
}

constexpr int kTileRows = 3;
constexpr int kTileTokens = 4;

template <int kR>
G4_AVX2 void GemmRows(const float* w, int64_t w_stride, const float* x, int64_t x_stride, int64_t tokens,
                      int64_t k, float* y, int64_t y_stride, bool accumulate) {
  switch (tokens) {
    case 1:
      return GemmTile<kR, 1>(w, w_stride, x, x_stride, k, y, y_stride, accumulate);
    case 2:
      return GemmTile<kR, 2>(w, w_stride, x, x_stride, k, y, y_stride, accumulate);
    case 3:
      return GemmTile<kR, 3>(w, w_stride, x, x_stride, k, y, y_stride, accumulate);
    default:
      return GemmTile<kR, kTileTokens>(w, w_stride, x, x_stride, k, y, y_stride, accumulate);
  }
}

G4_AVX2 void GemmF32(const float* w, int64_t w_stride, int64_t rows, const float* x, int64_t x_stride, int64_t n,
                     int64_t k, float* y, int64_t y_stride, bool accumulate) {
  for (int64_t t0 = 0; t0 < n; t0 += kTileTokens) {
    const int64_t tt = n - t0 < kTileTokens ? n - t0 : kTileTokens;
    const float* xt = x + t0 * x_stride;
    float* yt = y + t0 * y_stride;
    int64_t r0 = 0;
    for (; r0 + kTileRows <= rows; r0 += kTileRows) {
      GemmRows<kTileRows>(w + r0 * w_stride, w_stride, xt, x_stride, tt, k, yt + r0, y_stride, accumulate);
    }
    if (rows - r0 == 2) GemmRows<2>(w + r0 * w_stride, w_stride, xt, x_stride, tt, k, yt + r0, y_stride, accumulate);
    if (rows - r0 == 1) GemmRows<1>(w + r0 * w_stride, w_stride, xt, x_stride, tt, k, yt + r0, y_stride, accumulate);
  }
}

G4_AVX2 float DotF32(const float* a, const float* b, int64_t n) {
  return RowFloat<LoadF32>(reinterpret_cast<const uint8_t*>(a), b, n);
}

// exp(x) for x <= 88 (Cephes expf: 2^n times a degree-6 polynomial on [-ln2/2, ln2/2]);
// about 1 ulp. Inputs below -87 give 0.
G4_AVX2 inline __m256 Exp(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// tanh: an odd Taylor polynomial below |x| = 0.3125 (no cancellation near 0), else
// (1 - e) / (1 + e) with e = exp(-2|x|); the sign is put back at the end.
G4_AVX2 inline __m256 Tanh(__m256 x) {
  const __m256 sign = _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(0x80000000u))));
  const __m256 a = _mm256_andnot_ps(sign, x);
  const __m256 e = Exp(_mm256_mul_ps(a, _mm256_set1_ps(-2.0f)));
  const __m256 big = _mm256_div_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), e), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
  const __m256 a2 = _mm256_mul_ps(a, a);
  __m256 p = _mm256_set1_ps(-1382.0f / 155925.0f);
  p = _mm256_fmadd_ps(p, a2, _mm256_set1_ps(62.0f / 2835.0f));
  p = _mm256_fmadd_ps(p, a2, _mm256_set1_ps(-17.0f / 315.0f));
  p = _mm256_fmadd_ps(p, a2, _mm256_set1_ps(2.0f / 15.0f));
  p = _mm256_fmadd_ps(p, a2, _mm256_set1_ps(-1.0f / 3.0f));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, a2), a, a);
  const __m256 t = _mm256_blendv_ps(big, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.3125f), _CMP_LT_OQ));
  return _mm256_or_ps(t, sign);
}

// Scores of kG queries x kJ keys: one 8-lane accumulator per pair (kG * kJ <= 8 registers),
// each query and key chunk loaded once for the tile. hd: a multiple of 8.
template <int kG, int kJ>
G4_AVX2 void ScoreTile(const float* q, int64_t hd, const float* const* k_rows, float* scores, int64_t n) {
  __m256 acc[kG][kJ];
  for (int g = 0; g < kG; ++g) {
    for (int j = 0; j < kJ; ++j) acc[g][j] = _mm256_setzero_ps();
  }
  for (int64_t i = 0; i < hd; i += 8) {
    __m256 k[kJ];
    for (int j = 0; j < kJ; ++j) k[j] = _mm256_loadu_ps(k_rows[j] + i);
    for (int g = 0; g < kG; ++g) {
      const __m256 qv = _mm256_loadu_ps(q + g * hd + i);
      for (int j = 0; j < kJ; ++j) acc[g][j] = _mm256_fmadd_ps(qv, k[j], acc[g][j]);
    }
  }
  for (int g = 0; g < kG; ++g) {
    for (int j = 0; j < kJ; ++j) scores[g * n + j] = HSum(acc[g][j]);
  }
}

template <int kG, int kJ>
G4_AVX2 void ScoreRows(const float* q, int nq, int64_t hd, const float* const* k_rows, int64_t n, float* scores) {
  for (int g0 = 0; g0 < nq; g0 += kG) {
    int64_t j0 = 0;
    for (; j0 + kJ <= n; j0 += kJ) ScoreTile<kG, kJ>(q + g0 * hd, hd, k_rows + j0, scores + g0 * n + j0, n);
    for (; j0 < n; ++j0) ScoreTile<kG, 1>(q + g0 * hd, hd, k_rows + j0, scores + g0 * n + j0, n);
  }
}

// Tiles of 4 x 2, 2 x 4 or 1 x 8 as the head group allows: six or nine loads per eight FMAs,
// and eight independent chains.
G4_AVX2 void AttentionScores(const float* q, int nq, int64_t hd, const float* const* k_rows, int64_t n,
                             float* scores) {
  if (hd % 8 != 0) return ScalarKernels().attention_scores(q, nq, hd, k_rows, n, scores);
  if (nq % 4 == 0) return ScoreRows<4, 2>(q, nq, hd, k_rows, n, scores);
  if (nq % 2 == 0) return ScoreRows<2, 4>(q, nq, hd, k_rows, n, scores);
  ScoreRows<1, 8>(q, nq, hd, k_rows, n, scores);
}

// Value sums for 4 queries x 2 chunks of 8 output values (the shape E2B's head groups take),
// kept in named registers over the block: with arrays GCC stored every accumulator to the stack
// on each key.
G4_AVX2 void ValueTile4x2(const float* p, int64_t hd, const float* const* v_rows, int64_t n, float* acc, int64_t i0) {
  float* o0 = acc + i0;
  float* o1 = o0 + hd;
  float* o2 = o1 + hd;
  float* o3 = o2 + hd;
  __m256 a00 = _mm256_loadu_ps(o0), a01 = _mm256_loadu_ps(o0 + 8), a10 = _mm256_loadu_ps(o1),
         a11 = _mm256_loadu_ps(o1 + 8), a20 = _mm256_loadu_ps(o2), a21 = _mm256_loadu_ps(o2 + 8),
         a30 = _mm256_loadu_ps(o3), a31 = _mm256_loadu_ps(o3 + 8);
  for (int64_t j = 0; j < n; ++j) {
    const __m256 v0 = _mm256_loadu_ps(v_rows[j] + i0), v1 = _mm256_loadu_ps(v_rows[j] + i0 + 8);
    __m256 pv = _mm256_broadcast_ss(p + j);
    a00 = _mm256_fmadd_ps(pv, v0, a00);
    a01 = _mm256_fmadd_ps(pv, v1, a01);
    pv = _mm256_broadcast_ss(p + n + j);
    a10 = _mm256_fmadd_ps(pv, v0, a10);
    a11 = _mm256_fmadd_ps(pv, v1, a11);
    pv = _mm256_broadcast_ss(p + 2 * n + j);
    a20 = _mm256_fmadd_ps(pv, v0, a20);
    a21 = _mm256_fmadd_ps(pv, v1, a21);
    pv = _mm256_broadcast_ss(p + 3 * n + j);
    a30 = _mm256_fmadd_ps(pv, v0, a30);
    a31 = _mm256_fmadd_ps(pv, v1, a31);
  }
  _mm256_storeu_ps(o0, a00);
  _mm256_storeu_ps(o0 + 8, a01);
  _mm256_storeu_ps(o1, a10);
  _mm256_storeu_ps(o1 + 8, a11);
  _mm256_storeu_ps(o2, a20);
  _mm256_storeu_ps(o2 + 8, a21);
  _mm256_storeu_ps(o3, a30);
  _mm256_storeu_ps(o3 + 8, a31);
}

// The same for other shapes (kG queries x kC chunks).
template <int kG, int kC>
G4_AVX2 void ValueTile(const float* p, int64_t hd, const float* const* v_rows, int64_t n, float* acc, int64_t i0) {
  if constexpr (kG == 4 && kC == 2) {
    return ValueTile4x2(p, hd, v_rows, n, acc, i0);
  } else {
    __m256 a[kG][kC];
    for (int g = 0; g < kG; ++g) {
      for (int c = 0; c < kC; ++c) a[g][c] = _mm256_loadu_ps(acc + g * hd + i0 + 8 * c);
    }
    for (int64_t j = 0; j < n; ++j) {
      __m256 v[kC];
      for (int c = 0; c < kC; ++c) v[c] = _mm256_loadu_ps(v_rows[j] + i0 + 8 * c);
      for (int g = 0; g < kG; ++g) {
        const __m256 pv = _mm256_broadcast_ss(p + g * n + j);
        for (int c = 0; c < kC; ++c) a[g][c] = _mm256_fmadd_ps(pv, v[c], a[g][c]);
      }
    }
    for (int g = 0; g < kG; ++g) {
      for (int c = 0; c < kC; ++c) _mm256_storeu_ps(acc + g * hd + i0 + 8 * c, a[g][c]);
    }
  }
}

template <int kG, int kC>
G4_AVX2 void ValueRows(const float* p, int nq, int64_t hd, const float* const* v_rows, int64_t n, float* acc) {
  for (int g0 = 0; g0 < nq; g0 += kG) {
    for (int64_t i0 = 0; i0 < hd; i0 += 8 * kC) ValueTile<kG, kC>(p + g0 * n, hd, v_rows, n, acc + g0 * hd, i0);
  }
}

G4_AVX2 void AttentionValues(const float* p, int nq, int64_t hd, const float* const* v_rows, int64_t n,
                             float* acc) {
  if (hd % 32 != 0) return ScalarKernels().attention_values(p, nq, hd, v_rows, n, acc);
  if (nq % 4 == 0) return ValueRows<4, 2>(p, nq, hd, v_rows, n, acc);
  if (nq % 2 == 0) return ValueRows<2, 4>(p, nq, hd, v_rows, n, acc);
  ValueRows<1, 4>(p, nq, hd, v_rows, n, acc);
}

// Four double lanes per accumulator, two accumulators, then the lanes in a fixed order.
G4_AVX2 double SumSquares(const float* x, int64_t n) {
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), b = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
    s0 = _mm256_fmadd_pd(a, a, s0);
    s1 = _mm256_fmadd_pd(b, b, s1);
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(s0, s1));
  double sum = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]);
  for (; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

G4_AVX2 float ExpShifted(float* x, int64_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, Exp(_mm256_sub_ps(_mm256_loadu_ps(x + j), s)));
  for (; j < n; ++j) x[j] = __builtin_expf(x[j] - shift);
  float sum = 0.0f;
  for (j = 0; j < n; ++j) sum += x[j];
  return sum;
}

G4_AVX2 void GeluMul(float* gate, const float* up, int64_t n) {
  const __m256 c0 = _mm256_set1_ps(-2.0f * 0.7978845608028654f);
  const __m256 c1 = _mm256_set1_ps(0.044715f);
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(gate + i);
    const __m256 inner = _mm256_fmadd_ps(_mm256_mul_ps(c1, x), _mm256_mul_ps(x, x), x);
    // exp(-2z) overflows to inf for very negative x: x / inf = -0, the right limit.
    const __m256 e = Exp(_mm256_min_ps(_mm256_mul_ps(c0, inner), _mm256_set1_ps(88.0f)));
    const __m256 g = _mm256_div_ps(x, _mm256_add_ps(one, e));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(g, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) {
    const float x = gate[i];
    const float z = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    gate[i] = x / (1.0f + __builtin_expf(-2.0f * z)) * up[i];
  }
}

G4_AVX2 void Softcap(float* x, int64_t n, float cap) {
  const __m256 c = _mm256_set1_ps(cap), inv = _mm256_set1_ps(1.0f / cap);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(c, Tanh(_mm256_mul_ps(_mm256_loadu_ps(x + i), inv))));
  for (; i < n; ++i) x[i] = cap * __builtin_tanhf(x[i] / cap);
}

}  // namespace

const KernelTable& Avx2Kernels() {
  static const KernelTable table = {
      SimdLevel::kAvx2,
      true,
      avx2::QuantizeActs,
      avx2::QuantizeActsU8,
      avx2::GroupActsU8,
      avx2::MatQ4_0U8,
      avx2::MatQ8_0,
      GemvFloat<LoadF32>,
      GemvFloat<LoadF16>,
      GemvFloat<LoadBf16>,
      ToFloatQ4_0,
      ToFloatQ8_0,
      ToFloat<LoadF16>,
      ToFloat<LoadBf16>,
      GemmF32,
      avx2::QuantPrefillScratch,
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

}  // namespace g4

#else  // not x86-64 with GCC: no AVX2 table; SupportedSimdLevels() never offers it.

namespace g4 {
const KernelTable& Avx2Kernels() { return ScalarKernels(); }
}  // namespace g4

#endif
