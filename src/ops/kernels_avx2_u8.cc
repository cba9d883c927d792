// AVX2 kernels of the asymmetric 8-bit scheme (kernels.h): activation quantization to bytes,
// and Q4_0 rows times those bytes in a decode loop (rows streamed, a few tokens) and a prefill
// loop (rows packed once, register tiles). `vpmaddubsw` multiplies the unsigned activation
// bytes by weight bytes and adds pairs in 16 bits, exactly: the prefill loop packs the weights
// as signed nibble - 8 (a pair sum at most 2 x 255 x 8 = 4080, so eight steps still fit), the
// decode loop takes the nibbles as they are (0..15) and subtracts the offset through the byte
// sums (low and high nibble products added: at most 2 x 2 x 255 x 15 = 15300). Both loops
// produce, per output, the float sequence kernels.h fixes. Reference twins: QuantizeActsU8,
// GroupActsU8 and MatQ4_0U8 in kernels_scalar.cc.
#include "ops/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#include <cstdlib>
#include <cstring>

#include "ops/kernels_avx2.h"

namespace g4 {
namespace avx2 {

namespace {

constexpr int kQ4Bytes = 18;

// The 32 nibbles of a Q4_0 block as bytes in value order: the 16 bytes go to both 128-bit
// lanes, a 64-bit shift by 0 or 4 brings the low or high nibbles down.
G4_AVX2 inline __m256i Nibbles(const uint8_t* block) {
  const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2)));
  return _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0f));
}

// The weights themselves (nibble - 8) as signed bytes.
G4_AVX2 inline __m256i WeightBytes(const uint8_t* block) { return _mm256_sub_epi8(Nibbles(block), _mm256_set1_epi8(8)); }

// The float step of the scheme for one lane group: t = fma(D, dx, W * m); acc = fma(t, dw, acc).
// W comes as a float (exact: |W| <= 256).
G4_AVX2 inline __m256 StepU8(__m256i dots, __m256 wsum, const float* dx, const float* mn, __m256 dw, __m256 acc) {
  const __m256 t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), _mm256_loadu_ps(dx), _mm256_mul_ps(wsum, _mm256_loadu_ps(mn)));
  return _mm256_fmadd_ps(t, dw, acc);
}

// The scales of the blocks of a lane group in lane order (U8Lane): even blocks, then odd ones;
// `count` < 8 leaves the missing blocks' lanes 0.
G4_AVX2 inline __m256 LaneScales(const uint8_t* p, int count) {
  if (count == 8) {
    uint64_t even = 0, odd = 0;
    for (int j = 0; j < 4; ++j) {
      uint16_t a, b;
      std::memcpy(&a, p + 2 * j * kQ4Bytes, 2);
      std::memcpy(&b, p + (2 * j + 1) * kQ4Bytes, 2);
      uint64_t wa = a, wb = b;
      // Keeps GCC from turning this into vector shuffles, which cost more than integer ops here.
      asm("" : "+r"(wa), "+r"(wb));
      even |= wa << (16 * j);
      odd |= wb << (16 * j);
    }
    return _mm256_cvtph_ps(_mm_set_epi64x(static_cast<int64_t>(odd), static_cast<int64_t>(even)));
  }
  alignas(16) uint16_t h[8] = {};
  for (int b = 0; b < count; ++b) std::memcpy(&h[U8Lane(b)], p + b * kQ4Bytes, 2);
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h)));
}

// The packed block sums of one row's lane group with kT tokens' bytes (U8Pos layout), lane
// order: each lane holds 1024 D' + N with D' = sum nibble * byte and N = sum nibble. Two
// blocks share a register (low nibbles meet bytes 0-15 of both, high nibbles bytes 16-31);
// D' <= 32 x 15 x 255 and N <= 480, so the packed sums stay exact in 32 bits. `count` < 8:
// the blocks past it are not read and count 0.
template <int kT, bool kFull>
G4_AVX2 inline void GroupSums(const uint8_t* bl, int count, const uint8_t* const* u, __m256i* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), k1024 = _mm256_set1_epi16(1024);
  __m256i pc[4][kT];
  for (int p = 0; p < 4; ++p) {
    const uint8_t* a = bl + 2 * p * kQ4Bytes + 2;
    __m128i second;
    if (kFull || 2 * p + 1 < count) {
      second = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + kQ4Bytes));
    } else if (2 * p < count) {
      second = _mm_setzero_si128();
    } else {
      for (int t = 0; t < kT; ++t) pc[p][t] = _mm256_setzero_si256();
      continue;
    }
    const __m256i v =
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a))), second, 1);
    const __m256i lo = _mm256_and_si256(v, low4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
    const __m256i pn = _mm256_sad_epu8(_mm256_add_epi8(lo, hi), _mm256_setzero_si256());
    for (int t = 0; t < kT; ++t) {
      const __m256i* ut = reinterpret_cast<const __m256i*>(u[t] + 64 * p);
      const __m256i d16 = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_loadu_si256(ut), lo),
                                           _mm256_maddubs_epi16(_mm256_loadu_si256(ut + 1), hi));
      pc[p][t] = _mm256_add_epi32(_mm256_madd_epi16(d16, k1024), pn);
    }
  }
  for (int t = 0; t < kT; ++t) {
    out[t] = _mm256_hadd_epi32(_mm256_hadd_epi32(pc[0][t], pc[1][t]), _mm256_hadd_epi32(pc[2][t], pc[3][t]));
  }
}

// Decode loop: kRows rows (from anywhere) times kT tokens, lane group by lane group.
template <int kRows, int kT>
G4_AVX2 void RowsDecodeU8(const uint8_t* const* rows, const QActs& x, int64_t t0, float (*out)[3]) {
  const int64_t nb = x.k / kActBlock, nbp = PaddedBlocks(x.k), token_bytes = U8TokenBytes(x.k);
  __m256 acc[kRows][kT];
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kT; ++t) acc[r][t] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < nb; b += 8) {
    const int count = nb - b >= 8 ? 8 : static_cast<int>(nb - b);
    const uint8_t* u[kT];
    for (int t = 0; t < kT; ++t) u[t] = x.u8 + (t0 + t) * token_bytes + b * kActBlock;
    for (int r = 0; r < kRows; ++r) {
      const uint8_t* bl = rows[r] + b * kQ4Bytes;
      _mm_prefetch(reinterpret_cast<const char*>(bl) + 512, _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(bl) + 576, _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(bl) + 640, _MM_HINT_T0);
      __m256i c[kT];
      if (count == 8) {
        GroupSums<kT, true>(bl, 8, u, c);
      } else {
        GroupSums<kT, false>(bl, count, u, c);
      }
      const __m256 dw = LaneScales(bl, count);
      for (int t = 0; t < kT; ++t) {
        // D = D' - 8 (sum of bytes), W = N - 256.
        const int64_t o = (t0 + t) * nbp + b;
        const __m256i nsum = _mm256_and_si256(c[t], _mm256_set1_epi32(1023));
        const __m256i dots = _mm256_sub_epi32(_mm256_srai_epi32(c[t], 10),
                                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.s + o)));
        const __m256 wsum = _mm256_cvtepi32_ps(_mm256_sub_epi32(nsum, _mm256_set1_epi32(256)));
        acc[r][t] = StepU8(dots, wsum, x.d + o, x.mn + o, dw, acc[r][t]);
      }
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kT; ++t) out[r][t] = HSum(acc[r][t]);
  }
}

template <int kRows, int kT>
struct U8Rows {
  G4_AVX2 static void Run(const uint8_t* const* rows, const QActs& x, int64_t t0, float (*out)[3]) {
    RowsDecodeU8<kRows, kT>(rows, x, t0, out);
  }
};

// Prefill (PrefillLoop in kernels_avx2.h): rows packed per lane group into 8 vectors of weight
// bytes in the grouped layout (vector j lane l: bytes 4j .. 4j+3 of the block in lane l), the 8
// blocks' weight sums and their scales; 2-row x 4-token register tiles then sum eight steps of
// `vpmaddubsw` in 16 bits and widen once, one block per lane.
constexpr int kPackedBytesU8 = 256 + 32 + 32;  // weight bytes, weight sums and scales as floats
constexpr int kSumOffset = 256;
constexpr int kScaleOffset = 288;

G4_AVX2 void PackGroupU8(const uint8_t* bl, int count, uint8_t* out) {
  // Lane l gets the block U8Lane maps to it: even blocks first, then odd ones.
  __m256i v[8];
  for (int l = 0; l < 8; ++l) {
    const int b = l < 4 ? 2 * l : 2 * (l - 4) + 1;
    v[l] = b < count ? WeightBytes(bl + b * kQ4Bytes) : _mm256_setzero_si256();
  }
  Transpose8(v);
  __m256i* dst = reinterpret_cast<__m256i*>(out);
  __m256i sum16 = _mm256_setzero_si256();
  const __m256i ones8 = _mm256_set1_epi8(1);
  for (int j = 0; j < 8; ++j) {
    _mm256_store_si256(dst + j, v[j]);
    sum16 = _mm256_add_epi16(sum16, _mm256_maddubs_epi16(ones8, v[j]));
  }
  _mm256_store_ps(reinterpret_cast<float*>(out + kSumOffset),
                  _mm256_cvtepi32_ps(_mm256_madd_epi16(sum16, _mm256_set1_epi16(1))));
  _mm256_store_ps(reinterpret_cast<float*>(out + kScaleOffset), LaneScales(bl, count));
}

// The 16-bit sums of one lane group for a 2-row x 4-token tile: eight steps of vpmaddubsw
// (activation bytes x weight bytes).
G4_AVX2 inline void GroupSumsU8(const uint8_t* w0, size_t row_pitch, const uint8_t* x, size_t x_pitch,
                                __m256i (*sum)[4]) {
  G4_TILE_2X4_SUMS("vpmaddubsw", "vpaddw", "1,2,3,4,5,6,7");
}

// kR rows x kT tokens over `groups` lane groups (layouts as PrefillTile in kernels_avx2_quant.cc;
// x_pitch in bytes, d and mn: token 0's first group, tokens nbp apart).
template <int kR, int kT>
G4_AVX2 void TileU8(const uint8_t* panel, size_t row_pitch, int groups, const uint8_t* xg, size_t x_pitch,
                    const float* d, const float* mn, int64_t nbp, float* acc, int64_t acc_pitch, bool first) {
  __m256 a[kR][kT];
  for (int r = 0; r < kR; ++r) {
    for (int t = 0; t < kT; ++t) a[r][t] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(acc + r * acc_pitch + 8 * t);
  }
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int g = 0; g < groups; ++g) {
    const uint8_t* pg = panel + static_cast<size_t>(g) * kPackedBytesU8;
    const uint8_t* xgg = xg + static_cast<size_t>(g) * 256;
    __m256i sum[kPrefillTileRows][kPrefillTileTokens];
    if constexpr (kR == 2 && kT == 4) {
      GroupSumsU8(pg, row_pitch, xgg, x_pitch, sum);
    } else {
      for (int r = 0; r < kR; ++r) {
        for (int t = 0; t < kT; ++t) {
          __m256i s = _mm256_setzero_si256();
          for (int j = 0; j < 8; ++j) {
            const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(pg + r * row_pitch + 32 * j));
            const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xgg + t * x_pitch + 32 * j));
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(xv, w));
          }
          sum[r][t] = s;
        }
      }
    }
    for (int r = 0; r < kR; ++r) {
      const __m256 dw = _mm256_load_ps(reinterpret_cast<const float*>(pg + r * row_pitch + kScaleOffset));
      const __m256 wsum = _mm256_load_ps(reinterpret_cast<const float*>(pg + r * row_pitch + kSumOffset));
      for (int t = 0; t < kT; ++t) {
        const __m256i dots = _mm256_madd_epi16(sum[r][t], ones16);
        a[r][t] = StepU8(dots, wsum, d + t * nbp + 8 * g, mn + t * nbp + 8 * g, dw, a[r][t]);
      }
    }
  }
  for (int r = 0; r < kR; ++r) {
    for (int t = 0; t < kT; ++t) _mm256_storeu_ps(acc + r * acc_pitch + 8 * t, a[r][t]);
  }
}

// The byte scheme for PrefillLoop (kernels_avx2.h).
struct U8Prefill {
  static constexpr size_t kBlockBytes = 256 << 10;
  static constexpr int kChunkGroups = 8;
  static constexpr int kPackedBytes = kPackedBytesU8;
  static constexpr int kStoredBytes = kQ4Bytes;
  G4_AVX2 static void Pack(const uint8_t* bl, int count, uint8_t* out) { PackGroupU8(bl, count, out); }
  template <int kR, int kT>
  G4_AVX2 static void Tile(const uint8_t* panel, size_t row_pitch, int groups, const QActs& x, int64_t t0, int64_t c0,
                           float* acc, int64_t acc_pitch, bool first) {
    const int64_t nbp = PaddedBlocks(x.k);
    const size_t x_pitch = static_cast<size_t>(nbp) * kActBlock;
    const int64_t o = t0 * nbp + c0 * kLaneGroup;
    TileU8<kR, kT>(panel, row_pitch, groups, x.grouped_u8 + t0 * x_pitch + c0 * 256, x_pitch, x.d + o, x.mn + o, nbp,
                   acc, acc_pitch, first);
  }
};

}  // namespace

G4_AVX2 void QuantizeActsU8(const float* x, int64_t k, uint8_t* u, float* d, float* mn, int32_t* s) {
  const int64_t nb = k / kActBlock;
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * kActBlock;
    const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
    const __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
    __m256 lo = _mm256_min_ps(_mm256_min_ps(x0, x1), _mm256_min_ps(x2, x3));
    __m256 hi = _mm256_max_ps(_mm256_max_ps(x0, x1), _mm256_max_ps(x2, x3));
    lo = _mm256_min_ps(lo, _mm256_permute2f128_ps(lo, lo, 1));
    lo = _mm256_min_ps(lo, _mm256_shuffle_ps(lo, lo, 0x4e));
    lo = _mm256_min_ps(lo, _mm256_shuffle_ps(lo, lo, 0xb1));
    hi = _mm256_max_ps(hi, _mm256_permute2f128_ps(hi, hi, 1));
    hi = _mm256_max_ps(hi, _mm256_shuffle_ps(hi, hi, 0x4e));
    hi = _mm256_max_ps(hi, _mm256_shuffle_ps(hi, hi, 0xb1));
    const float low = _mm256_cvtss_f32(lo);
    const float scale = (_mm256_cvtss_f32(hi) - low) / 255.0f;
    const __m256 iv = _mm256_set1_ps(scale != 0.0f ? 1.0f / scale : 0.0f);
    const __m256 lv = _mm256_set1_ps(low);
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_sub_ps(x0, lv), iv));
    const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_sub_ps(x1, lv), iv));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_sub_ps(x2, lv), iv));
    const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_sub_ps(x3, lv), iv));
    // packs work within 128-bit lanes: 32-bit -> 16-bit -> 8-bit, then one permute restores order.
    const __m256i w01 = _mm256_packs_epi32(i0, i1), w23 = _mm256_packs_epi32(i2, i3);
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(w01, w23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(u + U8Pos(b, 0)), _mm256_castsi256_si128(bytes));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(u + U8Pos(b, 16)), _mm256_extracti128_si256(bytes, 1));
    const int64_t slot = U8Slot(b);
    d[slot] = scale;
    mn[slot] = low;
    s[slot] = 8 * HSumI32(_mm256_sad_epu8(bytes, _mm256_setzero_si256()));
  }
  for (int64_t b = nb; b < PaddedBlocks(k); ++b) {
    std::memset(u + U8Pos(b, 0), 0, 16);
    std::memset(u + U8Pos(b, 16), 0, 16);
    const int64_t slot = U8Slot(b);
    d[slot] = 0.0f;
    mn[slot] = 0.0f;
    s[slot] = 0;
  }
}

size_t QuantPrefillScratchU8(int64_t rows, int64_t k) { return PrefillScratch<U8Prefill>(rows, k); }

G4_AVX2 void GroupActsU8(const uint8_t* u, int64_t k, uint8_t* out) {
  for (int64_t g = 0; g < PaddedBlocks(k) / kLaneGroup; ++g) {
    // Lane l gets the block U8Lane maps to it (even blocks, then odd ones); each block's two
    // halves sit 32 bytes apart in the pair layout.
    __m256i v[8];
    for (int l = 0; l < 8; ++l) {
      const int64_t b = g * kLaneGroup + (l < 4 ? 2 * l : 2 * (l - 4) + 1);
      const __m128i first = _mm_loadu_si128(reinterpret_cast<const __m128i*>(u + U8Pos(b, 0)));
      const __m128i second = _mm_loadu_si128(reinterpret_cast<const __m128i*>(u + U8Pos(b, 16)));
      v[l] = _mm256_inserti128_si256(_mm256_castsi128_si256(first), second, 1);
    }
    Transpose8(v);
    for (int j = 0; j < 8; ++j) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + g * 256 + 32 * j), v[j]);
  }
}

G4_AVX2 void MatQ4_0U8(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
                       int64_t y_stride) {
  if (x.grouped_u8 != nullptr && x.n > 3) return PrefillLoop<U8Prefill>(w, row_bytes, r0, r1, x, y, y_stride);
  DecodeLoop<U8Rows>(w, row_bytes, r0, r1, x, y, y_stride);
}

}  // namespace avx2
}  // namespace g4

#endif
