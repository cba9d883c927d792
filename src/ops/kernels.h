// The matmul kernels behind MatMul (ops.h), one table per SIMD level (simd.h).
//
// Batch invariance. The server batches the tokens of several clients into one call, and each
// client must get exactly the tokens it would get alone. So every output y[t][r] is computed
// with one fixed sequence of float operations that depends only on row r and token t: not on
// how many tokens are in the call, which other tokens they are, whether the decode (GEMV) or
// prefill (GEMM) kernel runs, or how rows are split between threads. The sequences, which
// every kernel of a level follows exactly (the scalar twins follow them too, with std::fma,
// so each SIMD table equals the scalar one bit for bit):
//
// Q8_0 rows (the int16 scheme): each token's activations are quantized per 32-value block b to
// int16, dx_b = max|x| / 32767, q = x / dx_b rounded to nearest (ties to even). Per block the
// exact integer dot D_b = sum_i w_i q_i is formed, and eight float lanes accumulate
// acc[b % 8] = fma(float(D_b), dw_b * dx_b, acc[b % 8]) in block order, starting from +0
// (dw_b: the stored f16 scale). Then
//   y = ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7))          (Sum8)
// which is the order of an AVX 8-lane horizontal sum. (Bytes, as Q4_0 rows take below, would
// halve the prefill integer work, but Q8_0 weights against unsigned bytes overflow vpmaddubsw's
// 16-bit pair sums, and 8-bit activations put one mixture-of-experts golden file above
// llama.cpp's error; 16 bits keep each value within 1.5e-5 of its block's max.)
//
// Q4_0 rows (the asymmetric 8-bit scheme): see QActs below.
//
// Float rows (F32, F16, BF16, and any type converted to float for prefill): the columns are
// taken in chunks of kFloatChunk; within a chunk, lane l accumulates
// acc[l] = fma(w_i, x_i, acc[l]) over i = l, l + 8, ... (from +0), the chunk's value is
// Sum8(acc), and y = chunk_0 + chunk_1 + ... left to right.
//
// kernels_scalar.cc holds the plain reference twin of every kernel; tests/unit/
// matmul_kernel_test.cc compares each level's table with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/half.h"
#include "ops/dtype.h"
#include "ops/simd.h"

namespace g4 {

constexpr int64_t kActBlock = 32;
// Blocks per lane group of the int16 scheme (the 8 lanes of acc).
constexpr int64_t kLaneGroup = 8;
// Column chunk of the float scheme.
constexpr int64_t kFloatChunk = 1024;

// Blocks of a k-value row, rounded up to whole lane groups: the length of each token's d (and
// the byte scheme's mn and s) arrays, whose padding entries are 0.
inline int64_t PaddedBlocks(int64_t k) { return (k / kActBlock + kLaneGroup - 1) / kLaneGroup * kLaneGroup; }

// n tokens of k activations (k a multiple of 32) quantized per 32-value block (see above).
// Within a block the values are stored even-indexed first, per half: x0 x2 .. x14, x16 x18
// .. x30, x1 x3 .. x15, x17 .. x31 (ActPos). That is the order in which AVX2 unpacks Q4_0
// nibbles and Q8_0 bytes into 16-bit lanes with shifts and masks alone, without cross-lane
// shuffles. Token t: q + t * k, d + t * PaddedBlocks(k).
// grouped (may be null; only the prefill loops of SIMD levels read it): the same int16 values
// rearranged per lane group g of 8 blocks into 16 vectors of 16 values, vector j holding the
// stored values 2j and 2j + 1 of blocks 8g .. 8g+7 (see GroupActs); token t at grouped + t *
// 32 * PaddedBlocks(k). With it a SIMD lane meets all 32 values of one block, so integer dots
// come out one block per lane without horizontal sums.
constexpr int ActPos(int j) { return (j % 2 == 0 ? 0 : 16) + (j / 16) * 8 + (j % 16) / 2; }

// Q4_0 rows (the asymmetric 8-bit scheme): each token's activations are quantized per 32-value
// block b to unsigned bytes between the block's minimum m_b and maximum: dx_b = (max - m_b) /
// 255, u = (x - m_b) * (1 / dx_b) rounded to nearest (ties to even). Per block the exact integer
// sums D_b = sum_i w_i u_i and W_b = sum_i w_i are formed (w_i = nibble - 8), then
// t_b = fma(float(D_b), dx_b, float(W_b) * m_b) and acc[l] = fma(t_b, dw_b, acc[l]) in block
// order, l = U8Lane(b) (from +0); y = Sum8(acc). Rounding to 255 levels between each block's own
// minimum and maximum keeps the golden KL below llama.cpp's (whose symmetric 8-bit activations
// are not), and unsigned bytes are what vpmaddubsw takes.
//
// Layouts, chosen for the AVX2 decode loop, which loads the 16 nibble bytes of two blocks into
// one register: their low nibbles then meet bytes 0-15 of both blocks and their high nibbles
// bytes 16-31, and one horizontal-add tree over four such registers leaves the 8 blocks of a
// lane group in the lane order 0 2 4 6 1 3 5 7. So a token's bytes are stored per block pair
// (2p, 2p+1) as [A0-15 B0-15 A16-31 B16-31] (U8Pos), 32 * PaddedBlocks(k) bytes with zeros past
// the row, and its per-block values (dx, m, byte sums) in lane order (U8Slot).
constexpr int U8Lane(int64_t b) { return static_cast<int>((b % 2) * 4 + (b % 8) / 2); }
constexpr int64_t U8Slot(int64_t b) { return b / 8 * 8 + U8Lane(b); }
constexpr int64_t U8Pos(int64_t b, int j) { return b / 2 * 64 + (b % 2) * 16 + (j / 16) * 32 + j % 16; }
// Bytes of one token (U8Pos of the padding blocks included).
inline int64_t U8TokenBytes(int64_t k) { return PaddedBlocks(k) * kActBlock; }
struct QActs {
  const int16_t* q = nullptr;
  const int16_t* grouped = nullptr;
  const float* d = nullptr;
  const int32_t* s = nullptr;
  int64_t n = 0;
  int64_t k = 0;
  // The asymmetric 8-bit scheme (Q4_0): bytes (token t at u8 + t * U8TokenBytes(k), U8Pos
  // order) and per-block minima (token t at mn + t * PaddedBlocks(k), U8Slot order); d then
  // holds the byte scales dx_b and s eight times the blocks' byte sums (what the nibbles' offset
  // of 8 takes away), both in U8Slot order too.
  const uint8_t* u8 = nullptr;
  const float* mn = nullptr;
  // The bytes rearranged per lane group g of 8 blocks into 8 vectors of 32 bytes, vector j lane
  // l holding bytes 4j .. 4j+3 of the block in lane l (U8Lane); token t at
  // grouped_u8 + t * U8TokenBytes(k) (see GroupActsU8). May be null; only the SIMD prefill
  // loops read it.
  const uint8_t* grouped_u8 = nullptr;
};

// The grouped layout of one token's bytes u (U8Pos order) into out (U8TokenBytes(k) bytes).
void GroupActsU8(const uint8_t* u, int64_t k, uint8_t* out);

// The grouped layout of one token's quantized row q (k values) into out (32 * PaddedBlocks(k)
// values; blocks past the row are zeros).
void GroupActs(const int16_t* q, int64_t k, int16_t* out);

// y[t * y_stride + r] = (row r of w) . (token t of x) for rows r in [r0, r1) and every token
// of x. w points at row 0; rows are row_bytes apart.
using MatQuantFn = void (*)(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x, float* y,
                            int64_t y_stride);
// Same with float activations: n tokens of k values, x_stride floats apart.
using GemvFloatFn = void (*)(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* x,
                             int64_t n, int64_t k, int64_t x_stride, float* y, int64_t y_stride);
// One stored float or bfloat16 value at any address (the tails of the float row loops).
inline float F32At(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}
inline float Bf16At(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return Bf16ToFloat(h);
}
// Converts k values of one stored row to floats.
using ToFloatFn = void (*)(const uint8_t* row, float* out, int64_t k);

struct KernelTable {
  SimdLevel level;
  // Whether this level's prefill loops for quantized rows read the grouped layouts (x.grouped,
  // x.grouped_u8); without them the callers skip building those copies.
  bool prefill_reads_grouped;
  // One row of k floats (k a multiple of 32) into q (k values) and d (PaddedBlocks(k) values,
  // the padding set to 0): the int16 scheme.
  void (*quantize_acts)(const float* x, int64_t k, int16_t* q, float* d);
  // One row of k floats into bytes u (U8TokenBytes(k)), scales d, minima mn and 8 x byte sums
  // s (PaddedBlocks(k) each), the padding 0: the asymmetric 8-bit scheme and its layouts.
  void (*quantize_acts_u8)(const float* x, int64_t k, uint8_t* u, float* d, float* mn, int32_t* s);
  // GroupActsU8: the grouped layout of one token's bytes.
  void (*group_acts_u8)(const uint8_t* u, int64_t k, uint8_t* out);
  // Quantized rows, any number of tokens (the kernel picks its decode or prefill loop; the
  // prefill loop of a SIMD level needs x.grouped, and runs the decode loop without it).
  MatQuantFn matmul_q4_0;
  MatQuantFn matmul_q8_0;
  // Float rows, a few tokens at a time (decode); rows need not be 4-byte aligned.
  GemvFloatFn gemv_f32;
  GemvFloatFn gemv_f16;
  GemvFloatFn gemv_bf16;
  ToFloatFn to_float_q4_0;
  ToFloatFn to_float_q8_0;
  ToFloatFn to_float_f16;
  ToFloatFn to_float_bf16;
  // y[t * y_stride + r] (+)= w[r * w_stride + i] . x[t * x_stride + i] summed over i < k, for
  // r < rows and t < n; adds to y when accumulate, else overwrites it. k <= kFloatChunk: one
  // chunk of the float scheme.
  void (*gemm_f32)(const float* w, int64_t w_stride, int64_t rows, const float* x, int64_t x_stride, int64_t n,
                   int64_t k, float* y, int64_t y_stride, bool accumulate);
  // Bytes of the per-thread buffer the prefill loops of quantized rows keep between calls, for
  // a call over `rows` rows of k values of `type` (0: this level has no such buffer).
  size_t (*quant_prefill_scratch)(DType type, int64_t rows, int64_t k);
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  // Attention over a block of n positions for nq query heads of hd values (q_g at q + g * hd):
  // scores[g * n + j] = q_g . k_j, formed as acc[i % 8] = fma(q_g[i], k_j[i], acc[i % 8]) over
  // i in order (from +0), then Sum8(acc);
  void (*attention_scores)(const float* q, int nq, int64_t hd, const float* const* k_rows, int64_t n, float* scores);
  // and acc[g * hd + i] = fma(p[g * n + j], v_j[i], acc[g * hd + i]) for j = 0 .. n - 1 in
  // order. One rounding per step, so every level gives the same bits.
  void (*attention_values)(const float* p, int nq, int64_t hd, const float* const* v_rows, int64_t n, float* acc);
  // x[j] = exp(x[j] - shift) for j < n (within about 1 ulp of std::exp; levels may differ in
  // the last bit); returns their sum taken in j order.
  float (*exp_shifted)(float* x, int64_t n, float shift);
  // The sum of x[i]^2 for i < n, in double precision (levels may add in different orders).
  double (*sum_squares)(const float* x, int64_t n);
  // gate[i] = gelu_tanh(gate[i]) * up[i] (GeGLU), written as gate / (1 + exp(-2 z)) with
  // z = sqrt(2/pi) (x + 0.044715 x^3), which equals 0.5 x (1 + tanh(z)) without its cancellation.
  void (*gelu_mul)(float* gate, const float* up, int64_t n);
  // x[i] = cap * tanh(x[i] / cap).
  void (*softcap)(float* x, int64_t n, float cap);
};

const KernelTable& KernelsFor(SimdLevel level);
inline const KernelTable& ActiveKernels() { return KernelsFor(ActiveSimdLevel()); }

// The tables of each level (defined in kernels_<level>.cc).
const KernelTable& ScalarKernels();
const KernelTable& Avx2Kernels();
const KernelTable& NeonKernels();
const KernelTable& NeonDotKernels();

// Stored types multiplied with quantized activations: int16 ones (Q8_0) or asymmetric bytes
// (Q4_0, UsesU8Acts).
inline bool UsesQuantizedActs(DType t) { return t == DType::kQ4_0 || t == DType::kQ8_0; }
inline bool UsesU8Acts(DType t) { return t == DType::kQ4_0; }
// Stored float types with a direct decode kernel.
inline bool HasFloatGemv(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

}  // namespace g4
