#include "ops/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/error.h"
#include "ops/row_dot.h"

namespace g4 {

WeightRows RowsOf(const TensorView& t, int64_t first, int64_t count) {
  WeightRows w;
  w.type = t.type;
  w.in = t.shape.empty() ? 1 : t.shape[0];
  w.row_bytes = RowBytes(t.type, w.in);
  if (count < 0) count = t.n_rows() - first;
  G4_CHECK(first >= 0 && first + count <= t.n_rows(), "rows ", first, "+", count, " of ", t.name);
  w.rows = count;
  w.data = t.data + static_cast<size_t>(first) * w.row_bytes;
  return w;
}

// Compiled for several x86 levels; the loader picks the best one the CPU has at run time.
#if defined(__x86_64__) && defined(__GNUC__)
#define G4_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define G4_MULTIVERSION
#endif

G4_MULTIVERSION
float Dot(const float* a, const float* b, int64_t n) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

namespace {

// Rows converted per block: enough to reuse each activation row from cache several times.
constexpr int64_t kRowBlock = 16;

void MatMulRows(const float* x, int64_t n_tokens, int64_t x_stride, const WeightRows& w, float* y,
                int64_t y_stride, int64_t row_begin, int64_t row_end, std::vector<float>& buffer) {
  // F32 rows are read in place unless the file left them misaligned for float loads.
  // With few tokens each weight is used once or twice: reading it in its stored form beats
  // converting it to floats first.
  if (n_tokens <= 2 && HasRowDot(w.type)) {
    for (int64_t r = row_begin; r < row_end; ++r) {
      const uint8_t* row = w.data + static_cast<size_t>(r) * w.row_bytes;
      for (int64_t t = 0; t < n_tokens; ++t) y[t * y_stride + r] = RowDot(w.type, row, x + t * x_stride, w.in);
    }
    return;
  }
  const bool direct = w.type == DType::kF32 && reinterpret_cast<uintptr_t>(w.data) % alignof(float) == 0 &&
                      w.row_bytes % alignof(float) == 0;
  if (!direct) buffer.resize(static_cast<size_t>(kRowBlock * w.in));
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kRowBlock) {
    const int64_t r1 = std::min(row_end, r0 + kRowBlock);
    const float* rows;
    if (direct) {
      rows = reinterpret_cast<const float*>(w.data + static_cast<size_t>(r0) * w.row_bytes);
    } else {
      for (int64_t r = r0; r < r1; ++r) {
        DequantizeRow(w.type, w.data + static_cast<size_t>(r) * w.row_bytes, buffer.data() + (r - r0) * w.in, w.in);
      }
      rows = buffer.data();
    }
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * x_stride;
      float* yt = y + t * y_stride;
      for (int64_t r = r0; r < r1; ++r) yt[r] = Dot(xt, rows + (r - r0) * w.in, w.in);
    }
  }
}

}  // namespace

void MatMul(const float* x, int64_t n_tokens, int64_t x_stride, const WeightRows& w, float* y, int64_t y_stride,
            ThreadPool* pool) {
  if (pool == nullptr || pool->size() == 1 || w.rows * w.in * n_tokens < 32768) {
    std::vector<float> buffer;
    MatMulRows(x, n_tokens, x_stride, w, y, y_stride, 0, w.rows, buffer);
    return;
  }
  const int64_t blocks = (w.rows + kRowBlock - 1) / kRowBlock;
  pool->ParallelFor(blocks, [&](int64_t b0, int64_t b1) {
    thread_local std::vector<float> buffer;
    MatMulRows(x, n_tokens, x_stride, w, y, y_stride, b0 * kRowBlock, std::min(w.rows, b1 * kRowBlock), buffer);
  });
}

void MatMulReference(const float* x, int64_t n_tokens, int64_t x_stride, const WeightRows& w, float* y,
                     int64_t y_stride) {
  std::vector<float> row(static_cast<size_t>(w.in));
  for (int64_t r = 0; r < w.rows; ++r) {
    DequantizeRow(w.type, w.data + static_cast<size_t>(r) * w.row_bytes, row.data(), w.in);
    for (int64_t t = 0; t < n_tokens; ++t) {
      double sum = 0;
      for (int64_t i = 0; i < w.in; ++i) sum += static_cast<double>(x[t * x_stride + i]) * row[i];
      y[t * y_stride + r] = static_cast<float>(sum);
    }
  }
}

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / n + eps));
  if (weight != nullptr) {
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale;
  }
}

float GeluTanh(float x) {
  const float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

void Softmax(float* x, int64_t n) {
  float max_value = x[0];
  for (int64_t i = 1; i < n; ++i) max_value = std::max(max_value, x[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_value);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void ApplyRope(float* head, int n_rot, const float* cos, const float* sin) {
  const int half = n_rot / 2;
  for (int j = 0; j < half; ++j) {
    const float a = head[j];
    const float b = head[j + half];
    head[j] = a * cos[j] - b * sin[j];
    head[j + half] = b * cos[j] + a * sin[j];
  }
}

}  // namespace g4
