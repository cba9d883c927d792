// AVX2 kernels of the int16 scheme (kernels.h): activation quantization, and Q4_0 / Q8_0 rows
// times int16 activations, in a decode loop (a few tokens, weights streamed from memory) and a
// prefill loop (register tiles over repacked weights). Both produce, per output, the float
// sequence kernels.h fixes; only the integer work is arranged differently, and integer sums
// are exact in any order. Same rules as kernels_avx2.cc: target attributes per function, no
// STL. Reference twin: MatQuant in kernels_scalar.cc.
#include "ops/kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#include <cstdlib>
#include <cstring>

#include "ops/kernels_avx2.h"

namespace g4 {
namespace avx2 {

namespace {

constexpr int kQ4Bytes = 18;  // f16 scale + 16 bytes of nibbles
constexpr int kQ8Bytes = 34;  // f16 scale + 32 int8

// Sizes are rounded up to whole pages.
size_t ThreadBufferSize(size_t bytes) { return (bytes + 4095) / 4096 * 4096; }

// A per-thread buffer for the prefill loop's repacked weights and accumulators.
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

// The 32 weights of block `bl` as 16-bit words in the stored activation order (kernels.h,
// ActPos): lo = values 0 2 .. 14 | 16 18 .. 30, hi = values 1 3 .. 15 | 17 .. 31. Q4_0: the
// nibble values 0..15 (the offset of 8 is taken off through the activation sums); the 16
// bytes go to both 128-bit lanes and 64-bit shifts by per-lane amounts bring the wanted
// nibble of each word to its bottom. Q8_0: the bytes sign-extended by shifts.
G4_AVX2 inline void Q4Words(const uint8_t* bl, __m256i* lo, __m256i* hi) {
  const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bl + 2)));
  const __m256i mask = _mm256_set1_epi16(0x0f);
  *lo = _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)), mask);
  *hi = _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(8, 8, 12, 12)), mask);
}

G4_AVX2 inline void Q8Words(const uint8_t* bl, __m256i* lo, __m256i* hi) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bl + 2));
  *lo = _mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8);
  *hi = _mm256_srai_epi16(v, 8);
}

// Q4Words for the decode loop, one instruction cheaper: a mask of 0x000f in the lower lane and
// 0x00f0 in the upper one leaves the upper lane's nibbles 16 times too large, which
// EightDots<true> takes off once per group with a shift (the sums stay exact multiples of 16).
G4_AVX2 inline void Q4WordsTimes16(const uint8_t* bl, __m256i* lo, __m256i* hi) {
  const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bl + 2)));
  const __m256i mask = _mm256_setr_epi16(0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0,
                                         0xf0, 0xf0, 0xf0);
  *lo = _mm256_and_si256(v, mask);
  *hi = _mm256_and_si256(_mm256_srli_epi16(v, 8), mask);
}

template <bool kQ4>
G4_AVX2 inline void BlockWords(const uint8_t* bl, __m256i* lo, __m256i* hi) {
  if constexpr (kQ4) {
    Q4Words(bl, lo, hi);
  } else {
    Q8Words(bl, lo, hi);
  }
}

// Exact dots of one row's lane group (count <= 8 blocks from bl; the rest count as zeros) with
// kT tokens' activation blocks (x[t]: the group's first value), lane i = block i. Per block two
// 16-bit multiply-adds per token, made right after the block's words are unpacked so that no
// more than four blocks' partial sums are live; then a horizontal-add tree per half group.
// Q4_0 words come from Q4WordsTimes16, so the upper 128-bit lanes' sums are 16 times too large
// (exact multiples of 16) and one shift per group takes that off.
template <bool kQ4, int kT>
G4_AVX2 inline void GroupDots(const uint8_t* bl, int count, const int16_t* const* x, __m256i* out) {
  constexpr int kBytes = kQ4 ? kQ4Bytes : kQ8Bytes;
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
      if constexpr (kQ4) {
        Q4WordsTimes16(bl + b * kBytes, &lo, &hi);
      } else {
        Q8Words(bl + b * kBytes, &lo, &hi);
      }
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
    __m256i upper = _mm256_permute2x128_si256(half[0][t], half[1][t], 0x31);
    if constexpr (kQ4) upper = _mm256_srai_epi32(upper, 4);
    out[t] = _mm256_add_epi32(_mm256_permute2x128_si256(half[0][t], half[1][t], 0x20), upper);
  }
}

// acc = fma(float(D - 8 s [Q4_0]), dw * dx, acc) for one lane group: the float step of the
// scheme, shared by both loops so that they cannot drift apart.
template <bool kQ4>
G4_AVX2 inline __m256 GroupStep(__m256i dots, const int32_t* s, __m256 dw, const float* dx, __m256 acc) {
  if constexpr (kQ4) {
    dots = _mm256_sub_epi32(dots, _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s)), 3));
  }
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), _mm256_mul_ps(dw, _mm256_loadu_ps(dx)), acc);
}

constexpr int kPrefetchBytes = 512;

// Decode loop: kRows rows (from anywhere) times kT tokens, group by group, each group's weights
// unpacked once for all tokens.
template <bool kQ4, int kRows, int kT>
G4_AVX2 void RowsDecode(const uint8_t* const* rows, const QActs& x, int64_t t0, float* const* out) {
  constexpr int kBytes = kQ4 ? kQ4Bytes : kQ8Bytes;
  const int64_t nb = x.k / kActBlock, nbp = PaddedBlocks(x.k);
  __m256 acc[kRows][kT];
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kT; ++t) acc[r][t] = _mm256_setzero_ps();
  }
  const int16_t* q[kT];
  const float* d[kT];
  const int32_t* s[kT];
  for (int t = 0; t < kT; ++t) {
    q[t] = x.q + (t0 + t) * x.k;
    d[t] = x.d + (t0 + t) * nbp;
    s[t] = x.s + (t0 + t) * nbp;
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
      GroupDots<kQ4, kT>(bl, count, xg, dots);
      const __m256 dw = count == 8 ? EightScales<kBytes>(bl) : SomeScales<kBytes>(bl, count);
      for (int t = 0; t < kT; ++t) acc[r][t] = GroupStep<kQ4>(dots[t], s[t] + b, dw, d[t] + b, acc[r][t]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kT; ++t) out[r][t] = HSum(acc[r][t]);
  }
}

// out[r][t] receives row r, token t: rows[] and out[] per row, tokens t0 .. t0 + kT - 1 (the
// caller turns out[r][t] into its y position).
template <bool kQ4, int kRows>
G4_AVX2 void RowsDecodeTokens(const uint8_t* const* rows, const QActs& x, float* y, int64_t y_stride,
                              const int64_t* idx) {
  for (int64_t t0 = 0; t0 < x.n; t0 += 3) {
    float res[kRows][3];
    float* out[kRows];
    for (int r = 0; r < kRows; ++r) out[r] = res[r];
    const int64_t tt = x.n - t0 < 3 ? x.n - t0 : 3;
    switch (tt) {
      case 1:
        RowsDecode<kQ4, kRows, 1>(rows, x, t0, out);
        break;
      case 2:
        RowsDecode<kQ4, kRows, 2>(rows, x, t0, out);
        break;
      default:
        RowsDecode<kQ4, kRows, 3>(rows, x, t0, out);
        break;
    }
    for (int r = 0; r < kRows; ++r) {
      for (int64_t t = 0; t < tt; ++t) y[(t0 + t) * y_stride + idx[r]] = res[r][t];
    }
  }
}

// The rows are split into four equal runs walked side by side: four sequential streams for the
// hardware prefetchers (four adjacent rows confuse them), and each token's activations are
// loaded once for four rows.
template <bool kQ4>
G4_AVX2 void Decode(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
                    int64_t y_stride) {
  const int64_t run = (r1 - r0) / 4;
  auto row = [&](int64_t r) { return w + static_cast<size_t>(r) * row_bytes; };
  for (int64_t i = 0; i < run; ++i) {
    const int64_t idx[4] = {r0 + i, r0 + run + i, r0 + 2 * run + i, r0 + 3 * run + i};
    const uint8_t* rows[4] = {row(idx[0]), row(idx[1]), row(idx[2]), row(idx[3])};
    RowsDecodeTokens<kQ4, 4>(rows, x, y, y_stride, idx);
  }
  for (int64_t r = r0 + 4 * run; r < r1; ++r) {
    const uint8_t* rows[1] = {row(r)};
    RowsDecodeTokens<kQ4, 1>(rows, x, y, y_stride, &r);
  }
}

// Prefill loop. A block of rows is repacked once into the grouped layout of kernels.h (what
// GroupActs does to the activations; Q4_0 nibbles with their offset of 8 taken off, so no
// activation sums are needed), sized to stay in L2 while every token of the call passes over
// it. A 2-row x 4-token register tile then gets each block's dot in one lane with vertical
// adds only: per row, group and vector j, one 16-bit multiply-add with each token's vector j.
// The columns are walked in chunks of kChunkGroups lane groups, so that a tile's activations
// (16 KiB) stay in L1 while every row pair of the block reuses them; the float accumulators
// of the 4 tokens live in a small per-thread buffer between chunks.
constexpr size_t kBlockBytes = 512 << 10;
constexpr int kChunkGroups = 8;
constexpr int kTileRows = 2;
constexpr int kTileTokens = 4;

// Repacked bytes per row and lane group: 16 vectors of words (the grouped layout), then the 8
// block scales as floats.
constexpr int kPackedBytes = 512 + 32;
constexpr int kScaleOffset = 512;

// 8 x 8 transpose of 32-bit lanes: v[j] lane i <- v[i] lane j.
G4_AVX2 inline void Transpose8(__m256i* v) {
  __m256i t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int j = 0; j < 4; ++j) {
    v[j] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x20);
    v[j + 4] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x31);
  }
}

// One row's lane group (count <= 8 blocks from bl; missing ones become zeros) into out, Q4_0
// weights as nibble - 8 (the same exact integer dots as the decode loop's): the
// words of each block are its lo then hi vector (the stored activation order), so vectors
// 0-7 of the grouped layout come from the lo halves and 8-15 from the hi halves.
template <bool kQ4>
G4_AVX2 void PackGroup(const uint8_t* bl, int count, uint8_t* out) {
  constexpr int kBytes = kQ4 ? kQ4Bytes : kQ8Bytes;
  __m256i lo[8], hi[8];
  for (int i = 0; i < 8; ++i) {
    if (i < count) {
      BlockWords<kQ4>(bl + i * kBytes, &lo[i], &hi[i]);
    } else {
      lo[i] = hi[i] = _mm256_setzero_si256();
    }
  }
  if constexpr (kQ4) {
    const __m256i eight = _mm256_set1_epi16(8);
    for (int i = 0; i < count; ++i) {
      lo[i] = _mm256_sub_epi16(lo[i], eight);
      hi[i] = _mm256_sub_epi16(hi[i], eight);
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
// the exact dot of block i of row r with token t (as the loop in PrefillTile computes them).
// Written out in assembly because GCC, whatever the C++ shape, either folds the activation
// load into every multiply-add or copies each accumulator after every add; with both gone the
// tile runs a quarter (k 6144) to two fifths (k 1536) faster. x_pitch_bytes: from one token's
// group to the next's.
G4_AVX2 inline void GroupSums2x4(const uint8_t* w0, size_t row_pitch, const int16_t* x, size_t x_pitch_bytes,
                                 __m256i (*sum)[4]) {
  const uint8_t* w1 = w0 + row_pitch;
  const char* x0 = reinterpret_cast<const char*>(x);
  const char* x3 = x0 + 3 * x_pitch_bytes;
  __m256i s00, s01, s02, s03, s10, s11, s12, s13, wa, wb, xv, m;
#define G4_TOKEN_FIRST(addr, s0, s1)            \
  "vmovdqu " addr ", %[xv]\n\t"                 \
  "vpmaddwd %[xv], %[wa], %[" s0 "]\n\t"         \
  "vpmaddwd %[xv], %[wb], %[" s1 "]\n\t"
#define G4_TOKEN_NEXT(addr, s0, s1)             \
  "vmovdqu " addr ", %[xv]\n\t"                 \
  "vpmaddwd %[xv], %[wa], %[m]\n\t"              \
  "vpaddd %[m], %[" s0 "], %[" s0 "]\n\t"         \
  "vpmaddwd %[xv], %[wb], %[m]\n\t"              \
  "vpaddd %[m], %[" s1 "], %[" s1 "]\n\t"
// One step for the four tokens: the activation vectors `disp` bytes into each token's group.
#define G4_FOUR_TOKENS(STEP, disp)                     \
  STEP(disp "(%[x0])", "s00", "s10")                   \
  STEP(disp "(%[x0],%[xs],1)", "s01", "s11")           \
  STEP(disp "(%[x0],%[xs],2)", "s02", "s12")           \
  STEP(disp "(%[x3])", "s03", "s13")
  asm("vmovdqa (%[w0]), %[wa]\n\t"
      "vmovdqa (%[w1]), %[wb]\n\t"
      G4_FOUR_TOKENS(G4_TOKEN_FIRST, "")
      ".irp j,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"
      "vmovdqa \\j*32(%[w0]), %[wa]\n\t"
      "vmovdqa \\j*32(%[w1]), %[wb]\n\t"
      G4_FOUR_TOKENS(G4_TOKEN_NEXT, "\\j*32")
      ".endr"
      : [s00] "=&x"(s00), [s01] "=&x"(s01), [s02] "=&x"(s02), [s03] "=&x"(s03), [s10] "=&x"(s10),
        [s11] "=&x"(s11), [s12] "=&x"(s12), [s13] "=&x"(s13), [wa] "=&x"(wa), [wb] "=&x"(wb), [xv] "=&x"(xv),
        [m] "=&x"(m)
      : [w0] "r"(w0), [w1] "r"(w1), [x0] "r"(x0), [xs] "r"(x_pitch_bytes), [x3] "r"(x3)
      : "memory");
#undef G4_FOUR_TOKENS
#undef G4_TOKEN_FIRST
#undef G4_TOKEN_NEXT
  sum[0][0] = s00, sum[0][1] = s01, sum[0][2] = s02, sum[0][3] = s03;
  sum[1][0] = s10, sum[1][1] = s11, sum[1][2] = s12, sum[1][3] = s13;
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
    const uint8_t* pg = panel + static_cast<size_t>(g) * kPackedBytes;
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
        a[r][t] = GroupStep<false>(sum[r][t], nullptr, dw, d + t * nbp + 8 * g, a[r][t]);
      }
    }
  }
  for (int r = 0; r < kR; ++r) {
    for (int t = 0; t < kT; ++t) _mm256_storeu_ps(acc + r * acc_pitch + 8 * t, a[r][t]);
  }
}

// PrefillTile for kt <= kT tokens.
template <int kR, int kT>
G4_AVX2 void PrefillTileTokens(int kt, const uint8_t* panel, size_t row_pitch, int groups, const int16_t* xg,
                               size_t x_pitch, const float* d, int64_t nbp, float* acc, int64_t acc_pitch,
                               bool first) {
  if constexpr (kT > 1) {
    if (kt < kT) return PrefillTileTokens<kR, kT - 1>(kt, panel, row_pitch, groups, xg, x_pitch, d, nbp, acc, acc_pitch, first);
  }
  PrefillTile<kR, kT>(panel, row_pitch, groups, xg, x_pitch, d, nbp, acc, acc_pitch, first);
}

// Rows packed at a time for rows of row_pitch packed bytes, and the thread buffer that takes
// them with their accumulators.
int64_t BlockRows(int64_t rows, size_t row_pitch) {
  int64_t block_rows = static_cast<int64_t>(kBlockBytes / row_pitch) / kTileRows * kTileRows;
  if (block_rows < kTileRows) block_rows = kTileRows;
  return block_rows > rows ? rows : block_rows;
}
size_t PanelBytes(int64_t block_rows, size_t row_pitch) {
  return static_cast<size_t>(block_rows) * (row_pitch + kTileTokens * 8 * sizeof(float));
}

template <bool kQ4>
G4_AVX2 void Prefill(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
                     int64_t y_stride) {
  constexpr int kBytes = kQ4 ? kQ4Bytes : kQ8Bytes;
  const int64_t n = x.n, nb = x.k / kActBlock, nbp = PaddedBlocks(x.k), n_groups = nbp / kLaneGroup;
  const size_t x_pitch = static_cast<size_t>(nbp) * kActBlock;
  const size_t row_pitch = static_cast<size_t>(n_groups) * kPackedBytes;
  const int64_t block_rows = BlockRows(r1 - r0, row_pitch);
  uint8_t* panel = static_cast<uint8_t*>(ThreadBuffer(PanelBytes(block_rows, row_pitch)));
  float* acc = reinterpret_cast<float*>(panel + static_cast<size_t>(block_rows) * row_pitch);
  const int64_t acc_pitch = kTileTokens * 8;
  for (int64_t b0 = r0; b0 < r1; b0 += block_rows) {
    const int64_t br = r1 - b0 < block_rows ? r1 - b0 : block_rows;
    for (int64_t r = 0; r < br; ++r) {
      const uint8_t* row = w + static_cast<size_t>(b0 + r) * row_bytes;
      for (int64_t g = 0; g < n_groups; ++g) {
        const int64_t b = g * kLaneGroup;
        const int count = nb - b < 8 ? static_cast<int>(nb - b) : 8;
        PackGroup<kQ4>(row + b * kBytes, count, panel + r * row_pitch + static_cast<size_t>(g) * kPackedBytes);
      }
    }
    for (int64_t t0 = 0; t0 < n; t0 += kTileTokens) {
      const int kt = n - t0 < kTileTokens ? static_cast<int>(n - t0) : kTileTokens;
      for (int64_t c0 = 0; c0 < n_groups; c0 += kChunkGroups) {
        const int cg = n_groups - c0 < kChunkGroups ? static_cast<int>(n_groups - c0) : kChunkGroups;
        const int16_t* xg = x.grouped + t0 * x_pitch + c0 * 256;
        const float* d = x.d + t0 * nbp + c0 * kLaneGroup;
        const uint8_t* pc = panel + static_cast<size_t>(c0) * kPackedBytes;
        for (int64_t rr = 0; rr < br;) {
          const uint8_t* p = pc + rr * row_pitch;
          float* a = acc + rr * acc_pitch;
          if (br - rr >= kTileRows) {
            PrefillTileTokens<kTileRows, kTileTokens>(kt, p, row_pitch, cg, xg, x_pitch, d, nbp, a, acc_pitch, c0 == 0);
            rr += kTileRows;
          } else {
            PrefillTileTokens<1, kTileTokens>(kt, p, row_pitch, cg, xg, x_pitch, d, nbp, a, acc_pitch, c0 == 0);
            rr += 1;
          }
        }
      }
      // Token by token, so that the stores run along y's rows.
      for (int t = 0; t < kt; ++t) {
        for (int64_t r = 0; r < br; ++r) y[(t0 + t) * y_stride + b0 + r] = HSum(_mm256_loadu_ps(acc + r * acc_pitch + 8 * t));
      }
    }
  }
}

}  // namespace

G4_AVX2 void QuantizeActs(const float* x, int64_t k, int16_t* q, float* d, int32_t* s) {
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
    const __m256i ones = _mm256_set1_epi16(1);
    d[b] = scale;
    s[b] = HSumI32(_mm256_add_epi32(_mm256_madd_epi16(p01, ones), _mm256_madd_epi16(p23, ones)));
  }
  for (int64_t b = nb; b < PaddedBlocks(k); ++b) {
    d[b] = 0.0f;
    s[b] = 0;
  }
}

size_t QuantPrefillScratch(int64_t rows, int64_t k) {
  const size_t row_pitch = static_cast<size_t>(PaddedBlocks(k) / kLaneGroup) * kPackedBytes;
  return ThreadBufferSize(PanelBytes(BlockRows(rows, row_pitch), row_pitch));
}

// The prefill loop needs the grouped activations, and pays for its repacking only with a few
// tokens to share it.
G4_AVX2 void MatQ4_0(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
                     int64_t y_stride) {
  if (x.grouped != nullptr && x.n > 3) return Prefill<true>(w, row_bytes, r0, r1, x, y, y_stride);
  Decode<true>(w, row_bytes, r0, r1, x, y, y_stride);
}

G4_AVX2 void MatQ8_0(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
                     int64_t y_stride) {
  if (x.grouped != nullptr && x.n > 3) return Prefill<false>(w, row_bytes, r0, r1, x, y, y_stride);
  Decode<false>(w, row_bytes, r0, r1, x, y, y_stride);
}

}  // namespace avx2
}  // namespace g4

#endif
