// Helpers shared by the AVX2 kernel files (kernels_avx2.cc: float kernels and the table;
// kernels_avx2_quant.cc: the int16 scheme; kernels_avx2_u8.cc: the byte scheme). Only those
// files include this header, and only on x86-64 with GCC or Clang.
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

// The integer sums of one lane group for a 2-row x 4-token prefill tile, as inline assembly:
// whatever the C++ shape, GCC either folds the activation load into every multiply-add or
// copies each accumulator after every add. MUL multiplies pairs and adds them (vpmaddwd on
// int16 words, vpmaddubsw on unsigned activation bytes x signed weight bytes), ADD accumulates
// (vpaddd / vpaddw), STEPS lists the vectors after the first ("1,2,...,7"). The expansion
// reads w0 (row 0's packed group; row 1 row_pitch bytes on), x (token 0's group; tokens
// x_pitch bytes apart) and writes sum[r][t].
#define G4_TILE_2X4_SUMS(MUL, ADD, STEPS)                                                          \
  const char* w1_ = reinterpret_cast<const char*>(w0) + row_pitch;                                \
  const char* x0_ = reinterpret_cast<const char*>(x);                                             \
  const char* x3_ = x0_ + 3 * x_pitch;                                                            \
  __m256i s00, s01, s02, s03, s10, s11, s12, s13, wa, wb, xv, m;                                   \
  asm("vmovdqa (%[w0]), %[wa]\n\t"                                                                 \
      "vmovdqa (%[w1]), %[wb]\n\t"                                                                 \
      G4_TILE_FOUR(MUL, ADD, G4_TILE_FIRST, "")                                                    \
      ".irp j," STEPS "\n\t"                                                                       \
      "vmovdqa \\j*32(%[w0]), %[wa]\n\t"                                                           \
      "vmovdqa \\j*32(%[w1]), %[wb]\n\t"                                                           \
      G4_TILE_FOUR(MUL, ADD, G4_TILE_NEXT, "\\j*32")                                               \
      ".endr"                                                                                      \
      : [s00] "=&x"(s00), [s01] "=&x"(s01), [s02] "=&x"(s02), [s03] "=&x"(s03), [s10] "=&x"(s10), \
        [s11] "=&x"(s11), [s12] "=&x"(s12), [s13] "=&x"(s13), [wa] "=&x"(wa), [wb] "=&x"(wb),       \
        [xv] "=&x"(xv), [m] "=&x"(m)                                                               \
      : [w0] "r"(w0), [w1] "r"(w1_), [x0] "r"(x0_), [xs] "r"(x_pitch), [x3] "r"(x3_)               \
      : "memory");                                                                                 \
  sum[0][0] = s00, sum[0][1] = s01, sum[0][2] = s02, sum[0][3] = s03;                              \
  sum[1][0] = s10, sum[1][1] = s11, sum[1][2] = s12, sum[1][3] = s13
// One token's first step (the sums start as the products) and later steps.
#define G4_TILE_FIRST(MUL, ADD, addr, s0, s1)   \
  "vmovdqu " addr ", %[xv]\n\t"                 \
  MUL " %[wa], %[xv], %[" s0 "]\n\t"            \
  MUL " %[wb], %[xv], %[" s1 "]\n\t"
#define G4_TILE_NEXT(MUL, ADD, addr, s0, s1)    \
  "vmovdqu " addr ", %[xv]\n\t"                 \
  MUL " %[wa], %[xv], %[m]\n\t"                 \
  ADD " %[m], %[" s0 "], %[" s0 "]\n\t"         \
  MUL " %[wb], %[xv], %[m]\n\t"                 \
  ADD " %[m], %[" s1 "], %[" s1 "]\n\t"
// One step for the four tokens: the activation vectors `disp` bytes into each token's group.
#define G4_TILE_FOUR(MUL, ADD, STEP, disp)               \
  STEP(MUL, ADD, disp "(%[x0])", "s00", "s10")           \
  STEP(MUL, ADD, disp "(%[x0],%[xs],1)", "s01", "s11")   \
  STEP(MUL, ADD, disp "(%[x0],%[xs],2)", "s02", "s12")   \
  STEP(MUL, ADD, disp "(%[x3])", "s03", "s13")

// The decode loops' driver. Rows(kRows, kT)::Run(rows, x, t0, out) sets out[r][t] to row r times
// token t0 + t. Rows are split into four equal runs walked side by side: four sequential streams
// for the hardware prefetchers (four adjacent rows confuse them), and each token's activations
// are loaded once for four rows; tokens go three at a time.
template <template <int, int> class Rows, int kRows>
G4_AVX2 inline void DecodeTokens(const uint8_t* const* rows, const QActs& x, float* y, int64_t y_stride,
                                 const int64_t* idx) {
  for (int64_t t0 = 0; t0 < x.n; t0 += 3) {
    float res[kRows][3];
    const int64_t tt = x.n - t0 < 3 ? x.n - t0 : 3;
    if (tt == 1) {
      Rows<kRows, 1>::Run(rows, x, t0, res);
    } else if (tt == 2) {
      Rows<kRows, 2>::Run(rows, x, t0, res);
    } else {
      Rows<kRows, 3>::Run(rows, x, t0, res);
    }
    for (int r = 0; r < kRows; ++r) {
      for (int64_t t = 0; t < tt; ++t) y[(t0 + t) * y_stride + idx[r]] = res[r][t];
    }
  }
}
template <template <int, int> class Rows>
G4_AVX2 inline void DecodeLoop(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
                               int64_t y_stride) {
  const int64_t run = (r1 - r0) / 4;
  auto row = [&](int64_t r) { return w + static_cast<size_t>(r) * row_bytes; };
  for (int64_t i = 0; i < run; ++i) {
    const int64_t idx[4] = {r0 + i, r0 + run + i, r0 + 2 * run + i, r0 + 3 * run + i};
    const uint8_t* rows[4] = {row(idx[0]), row(idx[1]), row(idx[2]), row(idx[3])};
    DecodeTokens<Rows, 4>(rows, x, y, y_stride, idx);
  }
  for (int64_t r = r0 + 4 * run; r < r1; ++r) {
    const uint8_t* rows[1] = {row(r)};
    DecodeTokens<Rows, 1>(rows, x, y, y_stride, &r);
  }
}

// The per-thread buffer both prefill loops of quantized rows keep between calls (packed rows
// and accumulators), at least `bytes` long; its size for a request of `bytes`.
void* ThreadBuffer(size_t bytes);
size_t ThreadBufferSize(size_t bytes);
// The prefill loops pack up to block_bytes of rows at a time (a multiple of the tile's rows, at
// least one tile), row_pitch packed bytes each; the buffer holds them and each row's
// accumulators for a tile's tokens.
inline int64_t PanelRows(int64_t rows, size_t row_pitch, size_t block_bytes, int tile_rows) {
  int64_t block_rows = static_cast<int64_t>(block_bytes / row_pitch) / tile_rows * tile_rows;
  if (block_rows < tile_rows) block_rows = tile_rows;
  return block_rows > rows ? rows : block_rows;
}
inline size_t PanelBytes(int64_t block_rows, size_t row_pitch, int tile_tokens) {
  return static_cast<size_t>(block_rows) * (row_pitch + static_cast<size_t>(tile_tokens) * 8 * sizeof(float));
}
// The prefill loop of both quantized schemes. A block of rows (up to S::kBlockBytes packed) is
// packed once (S::Pack, S::kPackedBytes per row and lane group of the stored S::kStoredBytes
// blocks) and every token of the call passes over it in 2-row x 4-token tiles; the columns go
// S::kChunkGroups lane groups at a time, so that a tile's activations stay in L1 while every
// row pair of the block reuses them, with the float accumulators in the thread buffer between
// chunks. S::Tile<kR, kT>(panel, row_pitch, groups, x, t0, c0, acc, acc_pitch, first) runs one
// tile over `groups` groups from group c0 for tokens t0 ...
constexpr int kPrefillTileRows = 2;
constexpr int kPrefillTileTokens = 4;

template <typename S, int kR, int kT>
G4_AVX2 inline void PrefillTileTokens(int kt, const uint8_t* panel, size_t row_pitch, int groups, const QActs& x,
                                      int64_t t0, int64_t c0, float* acc, int64_t acc_pitch, bool first) {
  if constexpr (kT > 1) {
    if (kt < kT) return PrefillTileTokens<S, kR, kT - 1>(kt, panel, row_pitch, groups, x, t0, c0, acc, acc_pitch, first);
  }
  S::template Tile<kR, kT>(panel, row_pitch, groups, x, t0, c0, acc, acc_pitch, first);
}

template <typename S>
size_t PrefillRowPitch(int64_t k) {
  return static_cast<size_t>(PaddedBlocks(k) / kLaneGroup) * S::kPackedBytes;
}

template <typename S>
G4_AVX2 void PrefillLoop(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
                         int64_t y_stride) {
  constexpr int kTR = kPrefillTileRows, kTT = kPrefillTileTokens;
  const int64_t n = x.n, nb = x.k / kActBlock, n_groups = PaddedBlocks(x.k) / kLaneGroup;
  const size_t row_pitch = PrefillRowPitch<S>(x.k);
  const int64_t block_rows = PanelRows(r1 - r0, row_pitch, S::kBlockBytes, kTR);
  uint8_t* panel = static_cast<uint8_t*>(ThreadBuffer(PanelBytes(block_rows, row_pitch, kTT)));
  float* acc = reinterpret_cast<float*>(panel + static_cast<size_t>(block_rows) * row_pitch);
  const int64_t acc_pitch = kTT * 8;
  for (int64_t b0 = r0; b0 < r1; b0 += block_rows) {
    const int64_t br = r1 - b0 < block_rows ? r1 - b0 : block_rows;
    for (int64_t r = 0; r < br; ++r) {
      const uint8_t* row = w + static_cast<size_t>(b0 + r) * row_bytes;
      for (int64_t g = 0; g < n_groups; ++g) {
        const int64_t b = g * kLaneGroup;
        const int count = nb - b < 8 ? static_cast<int>(nb - b) : 8;
        S::Pack(row + b * S::kStoredBytes, count, panel + r * row_pitch + static_cast<size_t>(g) * S::kPackedBytes);
      }
    }
    for (int64_t t0 = 0; t0 < n; t0 += kTT) {
      const int kt = n - t0 < kTT ? static_cast<int>(n - t0) : kTT;
      for (int64_t c0 = 0; c0 < n_groups; c0 += S::kChunkGroups) {
        const int cg = n_groups - c0 < S::kChunkGroups ? static_cast<int>(n_groups - c0) : S::kChunkGroups;
        const uint8_t* pc = panel + static_cast<size_t>(c0) * S::kPackedBytes;
        for (int64_t rr = 0; rr < br;) {
          const uint8_t* p = pc + rr * row_pitch;
          float* a = acc + rr * acc_pitch;
          if (br - rr >= kTR) {
            PrefillTileTokens<S, kTR, kTT>(kt, p, row_pitch, cg, x, t0, c0, a, acc_pitch, c0 == 0);
            rr += kTR;
          } else {
            PrefillTileTokens<S, 1, kTT>(kt, p, row_pitch, cg, x, t0, c0, a, acc_pitch, c0 == 0);
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

// Its thread buffer's size for a call over `rows` rows of k values.
template <typename S>
size_t PrefillScratch(int64_t rows, int64_t k) {
  const size_t row_pitch = PrefillRowPitch<S>(k);
  return ThreadBufferSize(
      PanelBytes(PanelRows(rows, row_pitch, S::kBlockBytes, kPrefillTileRows), row_pitch, kPrefillTileTokens));
}

// Its size for a call over `rows` rows of k values of `type`.
size_t QuantPrefillScratch(DType type, int64_t rows, int64_t k);

// The int16 scheme (kernels_avx2_quant.cc).
void QuantizeActs(const float* x, int64_t k, int16_t* q, float* d);
// The asymmetric 8-bit scheme (kernels_avx2_u8.cc).
void QuantizeActsU8(const float* x, int64_t k, uint8_t* u, float* d, float* mn, int32_t* s);
void GroupActsU8(const uint8_t* u, int64_t k, uint8_t* out);
void MatQ4_0U8(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y, int64_t y_stride);
size_t QuantPrefillScratchU8(int64_t rows, int64_t k);
void MatQ8_0(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y, int64_t y_stride);

}  // namespace avx2
}  // namespace g4
