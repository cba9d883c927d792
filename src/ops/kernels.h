// The matmul kernels behind MatMul (ops.h), one table per SIMD level (simd.h).
//
// Decode (a few tokens): each weight is used once per token, so the kernels read the stored
// rows in place. Q4_0 and Q8_0 rows are multiplied with activations quantized to int16 per
// 32-value block (QActs): a 16-bit integer keeps about 4.5 more decimal digits than llama.cpp's
// 8-bit activations, so the result stays within ~1e-5 of the float product while the inner
// loop is integer multiply-adds. F32, F16 and BF16 rows use float activations.
//
// Prefill (many tokens): rows are converted to float a tile at a time and multiplied with a
// register-blocked float kernel (GemmF32), so each converted weight serves every token.
//
// kernels_scalar.cc holds the plain reference twin of every kernel; tests/unit/
// matmul_kernel_test.cc compares each level's table with it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/dtype.h"
#include "ops/simd.h"

namespace g4 {

constexpr int64_t kActBlock = 32;

// n rows of k activations (k a multiple of 32) quantized per 32-value block b of row t:
//   x[t][32b + j] ~= d[t][b] * q[t][32b + ActPos(j)],  d = max|x in block| / 32767 (0 for a
//   zero block), q = x / d rounded to nearest (ties to even), s[t][b] = sum of the block's q.
// Within a block the values are stored even-indexed first, per half: x0 x2 .. x14, x16 x18
// .. x30, x1 x3 .. x15, x17 .. x31. That is the order in which AVX2 unpacks Q4_0 nibbles and
// Q8_0 bytes into 16-bit lanes with shifts and masks alone, without cross-lane shuffles.
// Position of value j (0..31) of a block in the stored order.
constexpr int ActPos(int j) { return (j % 2 == 0 ? 0 : 16) + (j / 16) * 8 + (j % 16) / 2; }

struct QActs {
  const int16_t* q = nullptr;  // [n][k]
  const float* d = nullptr;    // [n][k / 32]
  const float* s = nullptr;    // [n][k / 32]
  int64_t n = 0;
  int64_t k = 0;
};

// y[t * y_stride + r] = (row r of w) . (token t of x) for rows r in [r0, r1) and every token.
// w points at row 0; rows are row_bytes apart.
using GemvQuantFn = void (*)(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const QActs& x,
                             float* y, int64_t y_stride);
// Same with float activations: n tokens of k values, x_stride floats apart.
using GemvFloatFn = void (*)(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* x,
                             int64_t n, int64_t k, int64_t x_stride, float* y, int64_t y_stride);
// Converts k values of one stored row to floats.
using ToFloatFn = void (*)(const uint8_t* row, float* out, int64_t k);

struct KernelTable {
  SimdLevel level;
  // One row of k floats (k a multiple of 32) into q (k values), d and s (k / 32 values each).
  void (*quantize_acts)(const float* x, int64_t k, int16_t* q, float* d, float* s);
  GemvQuantFn gemv_q4_0;
  GemvQuantFn gemv_q8_0;
  GemvFloatFn gemv_f32;  // rows need not be 4-byte aligned
  GemvFloatFn gemv_f16;
  GemvFloatFn gemv_bf16;
  ToFloatFn to_float_q4_0;
  ToFloatFn to_float_q8_0;
  ToFloatFn to_float_f16;
  ToFloatFn to_float_bf16;
  // y[t * y_stride + r] (+)= w[r * w_stride + i] . x[t * x_stride + i] summed over i < k, for
  // r < rows and t < n; adds to y when accumulate, else overwrites it.
  void (*gemm_f32)(const float* w, int64_t w_stride, int64_t rows, const float* x, int64_t x_stride, int64_t n,
                   int64_t k, float* y, int64_t y_stride, bool accumulate);
  float (*dot_f32)(const float* a, const float* b, int64_t n);
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

// The stored types with a decode kernel and a to_float kernel in every table.
inline bool HasGemvKernel(DType t) {
  return t == DType::kQ4_0 || t == DType::kQ8_0 || t == DType::kF32 || t == DType::kF16 || t == DType::kBF16;
}
inline bool UsesQuantizedActs(DType t) { return t == DType::kQ4_0 || t == DType::kQ8_0; }

}  // namespace g4
