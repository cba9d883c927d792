// AVX2 + FMA + F16C kernels (x86-64-v3). Every function carries the target attribute instead
// of the whole file being compiled for AVX2, so nothing here leaks AVX2 code into inline
// functions shared with other files; keep this file free of STL templates for the same reason.
// Reference twins: kernels_scalar.cc.
#include "ops/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#include <cstring>
#include <type_traits>

#define G4_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace g4 {

namespace {

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

G4_AVX2 void QuantizeActs(const float* x, int64_t k, int16_t* q, float* d, float* s) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < k / kActBlock; ++b) {
    const float* xb = x + b * kActBlock;
    const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
    const __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(x0, abs_mask), _mm256_and_ps(x1, abs_mask)),
                             _mm256_max_ps(_mm256_and_ps(x2, abs_mask), _mm256_and_ps(x3, abs_mask)));
    m = _mm256_max_ps(m, _mm256_permute2f128_ps(m, m, 1));
    m = _mm256_max_ps(m, _mm256_shuffle_ps(m, m, 0x4e));
    m = _mm256_max_ps(m, _mm256_shuffle_ps(m, m, 0xb1));
    const float amax = _mm256_cvtss_f32(m);
    const float scale = amax / 32767.0f;
    const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
    const __m256 iv = _mm256_set1_ps(inv);
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(x0, iv)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(x1, iv));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(x2, iv)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(x3, iv));
    // packs works within 128-bit lanes; the permute restores the element order.
    const __m256i p01 = _mm256_permute4x64_epi64(_mm256_packs_epi32(i0, i1), 0xd8);
    const __m256i p23 = _mm256_permute4x64_epi64(_mm256_packs_epi32(i2, i3), 0xd8);
    // Then into the stored order (ActPos): evens of each half first. Activations are quantized
    // once per matmul, so plain stores through a small buffer are fast enough.
    alignas(32) int16_t natural[32];
    _mm256_store_si256(reinterpret_cast<__m256i*>(natural), p01);
    _mm256_store_si256(reinterpret_cast<__m256i*>(natural + 16), p23);
    int16_t* qb = q + b * kActBlock;
    for (int j = 0; j < kActBlock; ++j) qb[ActPos(j)] = natural[j];
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i sum = _mm256_add_epi32(_mm256_madd_epi16(p01, ones), _mm256_madd_epi16(p23, ones));
    d[b] = scale;
    s[b] = static_cast<float>(HSumI32(sum));
  }
}

// kR rows of Q4_0 (or Q8_0) times one token at once.
//
// Unpacking works within 128-bit lanes on 16-bit words (activations are stored in the matching
// order, see ActPos). Q4_0: the 16 bytes are loaded into both lanes; masking each word with
// 0x000f (lane 0) / 0x00f0 (lane 1) keeps the low nibble of its low byte in lane 0 and 16 times
// the high nibble in lane 1, and the same after shifting the words right by 8 gives the
// odd-indexed bytes. Lane 1 sums therefore come out 16 times too large; the accumulators are
// rescaled once at the end. The offset of 8 is taken off through the block sums of q:
// sum((n - 8) q) = sum(n q) - 8 sum(q). Q8_0: 32 bytes, even bytes sign-extended by a shift
// left and an arithmetic shift right, odd bytes by the arithmetic shift alone.
//
// The rows go together so that each activation block is loaded once for all kR rows, which
// keeps long activation vectors (an FFN down projection has 12288 values, 24 KiB of int16)
// from being streamed out of L1 once per row.
// The int32 lane sums of one block of one row with one activation block (x0, x1).
// kOverread (Q4_0): the odd bytes come from a second load one byte further on instead of a
// shift, which saves an instruction but reads one byte past the block; callers use it only
// where a next block of the same row follows.
template <bool kQ4, bool kOverread = false>
G4_AVX2 inline __attribute__((always_inline)) __m256i BlockDot(const uint8_t* bl, __m256i x0, __m256i x1) {
  if constexpr (kQ4) {
    const __m256i nibbles = _mm256_setr_epi16(0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0xf0, 0xf0, 0xf0, 0xf0,
                                              0xf0, 0xf0, 0xf0, 0xf0);
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bl + 2)));
    __m256i odd;
    if constexpr (kOverread) {
      odd = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bl + 3)));
    } else {
      odd = _mm256_srli_epi16(v, 8);
    }
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_and_si256(v, nibbles), x0),
                            _mm256_madd_epi16(_mm256_and_si256(odd, nibbles), x1));
  } else {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bl + 2));
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8), x0),
                            _mm256_madd_epi16(_mm256_srai_epi16(v, 8), x1));
  }
}

constexpr int kPrefetchBytes = 512;

// Per-row state of RowsQuant: the float accumulator, the Q4_0 offset correction and the
// scales of the current 8 blocks.
// Scales are double-buffered: those of the next 8 blocks are computed while the current 8 are
// multiplied, so the blocks never wait for the scale gather and its store to reach the loads.
struct RowAcc {
  __m256 acc, corr;
  const uint8_t* row;
  float sc[2][8];
};

// Scales (weight times activation) of blocks b .. b + count - 1 into sc; count is 8 except in
// a row's last group. s8 holds the activation block sums of the same blocks.
template <bool kQ4>
G4_AVX2 inline __attribute__((always_inline)) void StartEight(RowAcc& ra, int64_t b, int count, __m256 d8,
                                                              __m256 s8, float* sc) {
  constexpr int kBlockBytes = kQ4 ? 18 : 34;
  // Software prefetch kPrefetchBytes ahead of each stream, one line per 64 bytes consumed:
  // the hardware prefetchers alone leave the loads waiting on memory (about 10% slower decode).
  const char* ahead = reinterpret_cast<const char*>(ra.row + b * kBlockBytes) + kPrefetchBytes;
  for (int line = 0; line < (8 * kBlockBytes + 63) / 64; ++line) _mm_prefetch(ahead + 64 * line, _MM_HINT_T0);
  const __m256 w8 = count == 8 ? EightScales<kBlockBytes>(ra.row + b * kBlockBytes)
                               : SomeScales<kBlockBytes>(ra.row + b * kBlockBytes, count);
  const __m256 scale = _mm256_mul_ps(w8, d8);
  if constexpr (kQ4) ra.corr = _mm256_fmadd_ps(scale, s8, ra.corr);
  _mm256_storeu_ps(sc, scale);
}

template <bool kQ4, bool kOverread = false>
G4_AVX2 inline __attribute__((always_inline)) void AddBlock(RowAcc& ra, int64_t b, __m256i x0, __m256i x1,
                                                            __m256 scale) {
  constexpr int kBlockBytes = kQ4 ? 18 : 34;
  const __m256i p = BlockDot<kQ4, kOverread>(ra.row + b * kBlockBytes, x0, x1);
  ra.acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), scale, ra.acc);
}

template <bool kQ4>
G4_AVX2 inline float FinishRow(const RowAcc& ra) {
  const __m256 lane_scale = kQ4 ? _mm256_setr_ps(1, 1, 1, 1, 1.0f / 16, 1.0f / 16, 1.0f / 16, 1.0f / 16)
                                : _mm256_set1_ps(1.0f);
  float total = HSum(_mm256_mul_ps(ra.acc, lane_scale));
  if constexpr (kQ4) total -= 8.0f * HSum(ra.corr);
  return total;
}

// One or four rows (kFour) at once; written out per row so that the accumulators stay in
// registers. rows[i] is the i-th row, out[i] receives its product.
template <bool kFour, bool kQ4>
G4_AVX2 void RowsQuant(const uint8_t* const* rows, const int16_t* q, const float* d, const float* s, int64_t nb,
                       float* const* out) {
  RowAcc r0, r1, r2, r3;
  r0.acc = r0.corr = _mm256_setzero_ps();
  r0.row = rows[0];
  if constexpr (kFour) {
    r1.acc = r1.corr = r2.acc = r2.corr = r3.acc = r3.corr = _mm256_setzero_ps();
    r1.row = rows[1];
    r2.row = rows[2];
    r3.row = rows[3];
  }
  // Groups of 8 blocks; the last one may be shorter. Activation scales and sums past nb are
  // read masked (they may be the end of the buffer).
  auto prepare = [&](int64_t b, int buf) G4_AVX2 {
    const int count = nb - b >= 8 ? 8 : static_cast<int>(nb - b);
    __m256 d8, s8;
    if (count == 8) {
      d8 = _mm256_loadu_ps(d + b);
      s8 = _mm256_loadu_ps(s + b);
    } else {
      const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      d8 = _mm256_maskload_ps(d + b, mask);
      s8 = _mm256_maskload_ps(s + b, mask);
    }
    StartEight<kQ4>(r0, b, count, d8, s8, r0.sc[buf]);
    if constexpr (kFour) {
      StartEight<kQ4>(r1, b, count, d8, s8, r1.sc[buf]);
      StartEight<kQ4>(r2, b, count, d8, s8, r2.sc[buf]);
      StartEight<kQ4>(r3, b, count, d8, s8, r3.sc[buf]);
    }
  };
  const int64_t groups = (nb + 7) / 8;
  if (groups > 0) prepare(0, 0);
  int64_t b = 0;
  for (int64_t g = 0; g < groups; ++g, b += 8) {
    const int buf = static_cast<int>(g & 1);
    if (g + 1 < groups) prepare(b + 8, buf ^ 1);
    auto step = [&](int j, auto overread) G4_AVX2 {
      constexpr bool kOver = decltype(overread)::value;
      const __m256i* xb = reinterpret_cast<const __m256i*>(q + (b + j) * kActBlock);
      const __m256i x0 = _mm256_loadu_si256(xb), x1 = _mm256_loadu_si256(xb + 1);
      AddBlock<kQ4, kOver>(r0, b + j, x0, x1, _mm256_set1_ps(r0.sc[buf][j]));
      if constexpr (kFour) {
        AddBlock<kQ4, kOver>(r1, b + j, x0, x1, _mm256_set1_ps(r1.sc[buf][j]));
        AddBlock<kQ4, kOver>(r2, b + j, x0, x1, _mm256_set1_ps(r2.sc[buf][j]));
        AddBlock<kQ4, kOver>(r3, b + j, x0, x1, _mm256_set1_ps(r3.sc[buf][j]));
      }
    };
    // The last block of a row may be the last bytes of the tensor: no over-read there.
    const int count = nb - b >= 8 ? 8 : static_cast<int>(nb - b);
    const int safe_from = g + 1 == groups ? count - 1 : count;
    for (int j = 0; j < safe_from; ++j) step(j, std::integral_constant<bool, kQ4>());
    for (int j = safe_from; j < count; ++j) step(j, std::false_type());
  }
  *out[0] = FinishRow<kQ4>(r0);
  if constexpr (kFour) {
    *out[1] = FinishRow<kQ4>(r1);
    *out[2] = FinishRow<kQ4>(r2);
    *out[3] = FinishRow<kQ4>(r3);
  }
}

// The rows are split into four equal runs that are walked side by side, so each step works on
// four rows from four distant places: four sequential streams for the hardware prefetchers
// (four adjacent rows confuse them), and each activation block is loaded once for all four.
// With several tokens each group of rows is reused from cache for all of them.
template <bool kQ4>
G4_AVX2 void GemvQuant(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
                       int64_t y_stride) {
  const int64_t nb = x.k / kActBlock;
  const int64_t run = (r1 - r0) / 4;
  auto row = [&](int64_t r) { return w + static_cast<size_t>(r) * row_bytes; };
  for (int64_t i = 0; i < run; ++i) {
    const int64_t idx[4] = {r0 + i, r0 + run + i, r0 + 2 * run + i, r0 + 3 * run + i};
    const uint8_t* rows[4] = {row(idx[0]), row(idx[1]), row(idx[2]), row(idx[3])};
    for (int64_t t = 0; t < x.n; ++t) {
      float* yt = y + t * y_stride;
      float* out[4] = {yt + idx[0], yt + idx[1], yt + idx[2], yt + idx[3]};
      RowsQuant<true, kQ4>(rows, x.q + t * x.k, x.d + t * nb, x.s + t * nb, nb, out);
    }
  }
  for (int64_t r = r0 + 4 * run; r < r1; ++r) {
    const uint8_t* rows[1] = {row(r)};
    for (int64_t t = 0; t < x.n; ++t) {
      float* out[1] = {y + t * y_stride + r};
      RowsQuant<false, kQ4>(rows, x.q + t * x.k, x.d + t * nb, x.s + t * nb, nb, out);
    }
  }
}

// Float rows: 8 values per step from a type-specific loader, 4 accumulators.
struct LoadF32 {
  static constexpr int kBytes = 4;
  G4_AVX2 static __m256 Load(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  static float One(const uint8_t* p) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
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
  static float One(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
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

template <typename L>
G4_AVX2 void GemvFloat(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* x, int64_t n,
                       int64_t k, int64_t x_stride, float* y, int64_t y_stride) {
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + static_cast<size_t>(r) * row_bytes;
    for (int64_t t = 0; t < n; ++t) y[t * y_stride + r] = RowFloat<L>(row, x + t * x_stride, k);
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
      QuantizeActs,
      GemvQuant<true>,
      GemvQuant<false>,
      GemvFloat<LoadF32>,
      GemvFloat<LoadF16>,
      GemvFloat<LoadBf16>,
      ToFloatQ4_0,
      ToFloatQ8_0,
      ToFloat<LoadF16>,
      ToFloat<LoadBf16>,
      GemmF32,
      DotF32,
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
