// AVX2 kernels of the int16 scheme (kernels.h): activation quantization, and Q8_0 rows times
// int16 activations (Q4_0 rows take bytes: kernels_avx2_u8.cc), in a decode loop (a few
// tokens, weights streamed from memory) and a prefill loop (register tiles over repacked
// weights). Both produce, per output, the float sequence kernels.h fixes; only the integer work
// is arranged differently, and integer sums are exact in any order. Same rules as
// kernels_avx2.cc: target attributes per function, no STL. Reference twin: MatQ8_0 in
// kernels_scalar.cc.
#include "ops/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#include <cstdlib>
#include <cstring>

#include "ops/kernels_avx2.h"

namespace g4 {
namespace avx2 {

namespace {

constexpr int kQ8Bytes = 34;  // f16 scale + 32 int8

// The 32 weights of block `bl` as 16-bit words in the stored activation order (kernels.h,
// ActPos): lo = values 0 2 .. 14 | 16 18 .. 30, hi = values 1 3 .. 15 | 17 .. 31, the bytes
// sign-extended by shifts.
G4_AVX2 inline void Q8Words(const uint8_t* bl, __m256i* lo, __m256i* hi) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bl + 2));
  *lo = _mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8);
  *hi = _mm256_srai_epi16(v, 8);
}

// Exact dots of one row's lane group (count <= 8 blocks from bl; the rest count as zeros) with
// kT tokens' activation blocks (x[t]: the group's first value), lane i = block i. Per block two
// 16-bit multiply-adds per token, made right after the block's words are unpacked so that no
// more than four blocks' partial sums are live; then a horizontal-add tree per half group.
template <int kT>
G4_AVX2 inline void GroupDots(const uint8_t* bl, int count, const int16_t* const* x, __m256i* out) {
  __m256i half[2][kT];
  for (int h = 0; h < 2; ++h) {
    __m256i p[4][kT];
    for (int i = 0; i < 4; ++i) {
      const int b = 4 * h + i;
      if (b >= count) {
        for (int t = 0; t < kT; ++t) p[i][t] = _mm256_setzero_si256();
        continue;
      }
      __m256i lo, hi;
      Q8Words(bl + b * kQ8Bytes, &lo, &hi);
      for (int t = 0; t < kT; ++t) {
        const __m256i* xb = reinterpret_cast<const __m256i*>(x[t] + 32 * b);
        p[i][t] = _mm256_add_epi32(_mm256_madd_epi16(lo, _mm256_loadu_si256(xb)),
                                   _mm256_madd_epi16(hi, _mm256_loadu_si256(xb + 1)));
      }
    }
    // hadd(hadd(p0, p1), hadd(p2, p3)) holds the four blocks' 128-bit-lane sums in lane 0 and
    // the other halves in lane 1.
    for (int t = 0; t < kT; ++t) {
      half[h][t] = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0][t], p[1][t]), _mm256_hadd_epi32(p[2][t], p[3][t]));
    }
  }
  for (int t = 0; t < kT; ++t) {
    out[t] = _mm256_add_epi32(_mm256_permute2x128_si256(half[0][t], half[1][t], 0x20),
                              _mm256_permute2x128_si256(half[0][t], half[1][t], 0x31));
  }
}

// acc = fma(float(D), dw * dx, acc) for one lane group: the float step of the scheme, shared
// by both loops so that they cannot drift apart.
G4_AVX2 inline __m256 GroupStep(__m256i dots, __m256 dw, const float* dx, __m256 acc) {
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), _mm256_mul_ps(dw, _mm256_loadu_ps(dx)), acc);
}

constexpr int kPrefetchBytes = 512;

// Decode loop: kRows rows (from anywhere) times kT tokens, group by group, each group's weights
// unpacked once for all tokens.
template <int kRows, int kT>
G4_AVX2 void RowsDecode(const uint8_t* const* rows, const QActs& x, int64_t t0, float (*out)[3]) {
  constexpr int kBytes = kQ8Bytes;
  const int64_t nb = x.k / kActBlock, nbp = PaddedBlocks(x.k);
  __m256 acc[kRows][kT];
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kT; ++t) acc[r][t] = _mm256_setzero_ps();
  }
  const int16_t* q[kT];
  const float* d[kT];
  for (int t = 0; t < kT; ++t) {
    q[t] = x.q + (t0 + t) * x.k;
    d[t] = x.d + (t0 + t) * nbp;
  }
  alignas(32) int16_t tail_x[kT][8 * kActBlock];
  for (int64_t b = 0; b < nb; b += 8) {
    const int count = nb - b >= 8 ? 8 : static_cast<int>(nb - b);
    // A short last group: missing blocks are zeros (and their scales 0), never read.
    const int16_t* xg[kT];
    for (int t = 0; t < kT; ++t) {
      xg[t] = q[t] + b * kActBlock;
      if (count < 8) {
        std::memset(tail_x[t], 0, sizeof(tail_x[t]));
        std::memcpy(tail_x[t], xg[t], static_cast<size_t>(count) * kActBlock * sizeof(int16_t));
        xg[t] = tail_x[t];
      }
    }
    for (int r = 0; r < kRows; ++r) {
      const uint8_t* bl = rows[r] + b * kBytes;
      // Software prefetch ahead of each stream: the hardware prefetchers alone leave the loads
      // waiting on memory.
      for (int line = 0; line < (8 * kBytes + 63) / 64; ++line) {
        _mm_prefetch(reinterpret_cast<const char*>(bl) + kPrefetchBytes + 64 * line, _MM_HINT_T0);
      }
      __m256i dots[kT];
      GroupDots<kT>(bl, count, xg, dots);
      const __m256 dw = count == 8 ? EightScales<kBytes>(bl) : SomeScales<kBytes>(bl, count);
      for (int t = 0; t < kT; ++t) acc[r][t] = GroupStep(dots[t], dw, d[t] + b, acc[r][t]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kT; ++t) out[r][t] = HSum(acc[r][t]);
  }
}

template <int kRows, int kT>
struct Q8Rows {
  G4_AVX2 static void Run(const uint8_t* const* rows, const QActs& x, int64_t t0, float (*out)[3]) {
    RowsDecode<kRows, kT>(rows, x, t0, out);
  }
};

// Prefill (PrefillLoop in kernels_avx2.h): rows repacked into the grouped layout of kernels.h
// (what GroupActs does to the activations); a 2-row x 4-token register tile then gets each
// block's dot in one lane with vertical adds only: per row, group and vector j, one 16-bit
// multiply-add with each token's vector j.
// Repacked bytes per row and lane group: 16 vectors of words (the grouped layout), then the 8
// block scales as floats.
constexpr int kPackedBytesQ8 = 512 + 32;
constexpr int kScaleOffset = 512;

// One row's lane group (count <= 8 blocks from bl; missing ones become zeros) into out: the
// words of each block are its lo then hi vector (the stored activation order), so vectors
// 0-7 of the grouped layout come from the lo halves and 8-15 from the hi halves.
G4_AVX2 void PackGroup(const uint8_t* bl, int count, uint8_t* out) {
  constexpr int kBytes = kQ8Bytes;
  __m256i lo[8], hi[8];
  for (int i = 0; i < 8; ++i) {
    if (i < count) {
      Q8Words(bl + i * kBytes, &lo[i], &hi[i]);
    } else {
      lo[i] = hi[i] = _mm256_setzero_si256();
    }
  }
  Transpose8(lo);
  Transpose8(hi);
  __m256i* dst = reinterpret_cast<__m256i*>(out);
  for (int j = 0; j < 8; ++j) {
    _mm256_store_si256(dst + j, lo[j]);
    _mm256_store_si256(dst + 8 + j, hi[j]);
  }
  const __m256 dw = count == 8 ? EightScales<kBytes>(bl) : SomeScales<kBytes>(bl, count);
  _mm256_store_ps(reinterpret_cast<float*>(out + kScaleOffset), dw);
}

// The integer sums of one lane group for the full 2-row x 4-token tile: sum[r][t] lane i =
// the exact dot of block i of row r with token t (as the loop in PrefillTile computes them),
// sixteen steps of vpmaddwd. x_pitch: bytes from one token's group to the next's.
G4_AVX2 inline void GroupSums2x4(const uint8_t* w0, size_t row_pitch, const int16_t* x, size_t x_pitch,
                                 __m256i (*sum)[4]) {
  G4_TILE_2X4_SUMS("vpmaddwd", "vpaddd", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15");
}

// kR rows x kT tokens over `groups` lane groups. panel: row 0's first group, rows row_pitch
// bytes apart; xg: token 0's first group in the grouped layout, tokens x_pitch values apart;
// d: token 0's scales of the first group, tokens nbp apart; acc[r * acc_pitch + 8 t]: the 8
// lanes of row r, token t, read first unless `first` (then they start from +0).
template <int kR, int kT>
G4_AVX2 void PrefillTile(const uint8_t* panel, size_t row_pitch, int groups, const int16_t* xg, size_t x_pitch,
                         const float* d, int64_t nbp, float* acc, int64_t acc_pitch, bool first) {
  __m256 a[kR][kT];
  for (int r = 0; r < kR; ++r) {
    for (int t = 0; t < kT; ++t) a[r][t] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(acc + r * acc_pitch + 8 * t);
  }
  for (int g = 0; g < groups; ++g) {
    const uint8_t* pg = panel + static_cast<size_t>(g) * kPackedBytesQ8;
    __m256i sum[kR][kT];
    auto step = [&](int j, bool first_j) G4_AVX2 {
      __m256i wv[kR];
      for (int r = 0; r < kR; ++r) wv[r] = _mm256_load_si256(reinterpret_cast<const __m256i*>(pg + r * row_pitch + 32 * j));
      for (int t = 0; t < kT; ++t) {
        const __m256i xv =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xg + t * x_pitch + static_cast<size_t>(g) * 256 + 16 * j));
        for (int r = 0; r < kR; ++r) {
          const __m256i m = _mm256_madd_epi16(wv[r], xv);
          sum[r][t] = first_j ? m : _mm256_add_epi32(sum[r][t], m);
        }
      }
    };
    if constexpr (kR == 2 && kT == 4) {
      GroupSums2x4(pg, row_pitch, xg + static_cast<size_t>(g) * 256, x_pitch * sizeof(int16_t), sum);
    } else {
      // Step 0 apart: with a select in the loop GCC copies every sum on each step.
      step(0, true);
      for (int j = 1; j < 16; ++j) step(j, false);
    }
    for (int r = 0; r < kR; ++r) {
      const __m256 dw = _mm256_load_ps(reinterpret_cast<const float*>(pg + r * row_pitch + kScaleOffset));
      for (int t = 0; t < kT; ++t) {
        a[r][t] = GroupStep(sum[r][t], dw, d + t * nbp + 8 * g, a[r][t]);
      }
    }
  }
  for (int r = 0; r < kR; ++r) {
    for (int t = 0; t < kT; ++t) _mm256_storeu_ps(acc + r * acc_pitch + 8 * t, a[r][t]);
  }
}

// The int16 scheme for PrefillLoop (kernels_avx2.h).
struct Q8Prefill {
  static constexpr size_t kBlockBytes = 512 << 10;
  static constexpr int kChunkGroups = 8;
  static constexpr int kPackedBytes = kPackedBytesQ8;
  static constexpr int kStoredBytes = kQ8Bytes;
  G4_AVX2 static void Pack(const uint8_t* bl, int count, uint8_t* out) { PackGroup(bl, count, out); }
  template <int kR, int kT>
  G4_AVX2 static void Tile(const uint8_t* panel, size_t row_pitch, int groups, const QActs& x, int64_t t0, int64_t c0,
                           float* acc, int64_t acc_pitch, bool first) {
    const int64_t nbp = PaddedBlocks(x.k);
    const size_t x_pitch = static_cast<size_t>(nbp) * kActBlock;
    PrefillTile<kR, kT>(panel, row_pitch, groups, x.grouped + t0 * x_pitch + c0 * 256, x_pitch,
                        x.d + t0 * nbp + c0 * kLaneGroup, nbp, acc, acc_pitch, first);
  }
};

}  // namespace

G4_AVX2 void QuantizeActs(const float* x, int64_t k, int16_t* q, float* d) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const int64_t nb = k / kActBlock;
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * kActBlock;
    const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
    const __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(x0, abs_mask), _mm256_and_ps(x1, abs_mask)),
                             _mm256_max_ps(_mm256_and_ps(x2, abs_mask), _mm256_and_ps(x3, abs_mask)));
    m = _mm256_max_ps(m, _mm256_permute2f128_ps(m, m, 1));
    m = _mm256_max_ps(m, _mm256_shuffle_ps(m, m, 0x4e));
    m = _mm256_max_ps(m, _mm256_shuffle_ps(m, m, 0xb1));
    const float scale = _mm256_cvtss_f32(m) / 32767.0f;
    const __m256 iv = _mm256_set1_ps(scale != 0.0f ? 1.0f / scale : 0.0f);
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(x0, iv)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(x1, iv));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(x2, iv)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(x3, iv));
    // packs works within 128-bit lanes; the permute restores the value order.
    const __m256i p01 = _mm256_permute4x64_epi64(_mm256_packs_epi32(i0, i1), 0xd8);
    const __m256i p23 = _mm256_permute4x64_epi64(_mm256_packs_epi32(i2, i3), 0xd8);
    // Then into the stored order (ActPos): evens of each half first. Activations are quantized
    // once per matmul, so plain stores through a small buffer are fast enough.
    alignas(32) int16_t natural[32];
    _mm256_store_si256(reinterpret_cast<__m256i*>(natural), p01);
    _mm256_store_si256(reinterpret_cast<__m256i*>(natural + 16), p23);
    int16_t* qb = q + b * kActBlock;
    for (int j = 0; j < kActBlock; ++j) qb[ActPos(j)] = natural[j];
    d[b] = scale;
  }
  for (int64_t b = nb; b < PaddedBlocks(k); ++b) d[b] = 0.0f;
}

size_t ThreadBufferSize(size_t bytes) { return (bytes + 4095) / 4096 * 4096; }

void* ThreadBuffer(size_t bytes) {
  struct Buffer {
    void* p = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer buffer;
  if (buffer.size < bytes) {
    std::free(buffer.p);
    buffer.size = ThreadBufferSize(bytes);
    buffer.p = std::aligned_alloc(64, buffer.size);
  }
  return buffer.p;
}

size_t QuantPrefillScratch(DType type, int64_t rows, int64_t k) {
  if (UsesU8Acts(type)) return QuantPrefillScratchU8(rows, k);
  return PrefillScratch<Q8Prefill>(rows, k);
}

// The prefill loop needs the grouped activations, and pays for its repacking only with a few
// tokens to share it.
G4_AVX2 void MatQ8_0(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
                     int64_t y_stride) {
  if (x.grouped != nullptr && x.n > 3) return PrefillLoop<Q8Prefill>(w, row_bytes, r0, r1, x, y, y_stride);
  DecodeLoop<Q8Rows>(w, row_bytes, r0, r1, x, y, y_stride);
}

}  // namespace avx2
}  // namespace g4

#endif
