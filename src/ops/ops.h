// Numeric building blocks of the decoder, on float activations. Weights stay in their stored
// type (any DType with a dequantizer) and are converted a few rows at a time.
#pragma once

#include <cstdint>

#include "base/thread_pool.h"
#include "model/tensor.h"

namespace g4 {

// A run of consecutive weight rows, each `in` values long, in one stored type.
struct WeightRows {
  DType type = DType::kF32;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  int64_t in = 0;    // values per row
  int64_t rows = 0;  // number of rows (outputs)
};
// Rows [first, first + count) of a tensor seen as a stack of shape[0]-long rows.
WeightRows RowsOf(const TensorView& t, int64_t first = 0, int64_t count = -1);

// y[t][o] = sum_i x[t][i] * W[o][i] for t < n_tokens, o < w.rows.
// x rows are x_stride floats apart, y rows y_stride floats apart.
// Q4_0 and Q8_0 rows multiply activations rounded to int16 per 32-value block (ops/kernels.h):
// each x moves by at most max|block| / 65534; other types use float activations.
// Batch invariant: y[t][o] is the same bits for any n_tokens, any other tokens in the call and
// any pool size (each output follows one fixed float sequence, see ops/kernels.h).
void MatMul(const float* x, int64_t n_tokens, int64_t x_stride, const WeightRows& w, float* y, int64_t y_stride,
            ThreadPool* pool);
// One product of a MatMulMulti batch: y = x . w^T over the batch's n_tokens.
struct MatMulJob {
  const float* x = nullptr;
  int64_t x_stride = 0;
  WeightRows w;
  float* y = nullptr;
  int64_t y_stride = 0;
};
// Runs several products as one parallel pass: each distinct activation matrix is quantized
// once and the pool is handed work once, which matters for decode, where one matmul takes
// microseconds. Each result equals what MatMul gives for the same job.
void MatMulMulti(const MatMulJob* jobs, int count, int64_t n_tokens, ThreadPool* pool);

// Plain single-threaded twin of MatMul, for tests.
void MatMulReference(const float* x, int64_t n_tokens, int64_t x_stride, const WeightRows& w, float* y,
                     int64_t y_stride);

float Dot(const float* a, const float* b, int64_t n);

// out = x / sqrt(mean(x^2) + eps) * weight (weight may be null: no scale). out may alias x.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// gelu with the tanh approximation (PyTorch "gelu_pytorch_tanh").
float GeluTanh(float x);
// gate[i] = GeluTanh(gate[i]) * up[i] for i < n, vectorized (active SIMD level).
void GeluTanhMul(float* gate, const float* up, int64_t n);
// x[i] = cap * tanh(x[i] / cap) for i < n, vectorized (active SIMD level).
void SoftCap(float* x, int64_t n, float cap);

// In-place softmax over n values.
void Softmax(float* x, int64_t n);

// Rotates one head in place, NeoX pairing: lanes (j, j + n_rot/2) for j < n_rot/2, by the
// angle whose cosine and sine are cos[j], sin[j].
void ApplyRope(float* head, int n_rot, const float* cos, const float* sin);

}  // namespace g4
