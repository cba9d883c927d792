#include "ops/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/error.h"
#include "ops/kernels.h"

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

float Dot(const float* a, const float* b, int64_t n) { return ActiveKernels().dot_f32(a, b, n); }

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  const double sum = ActiveKernels().sum_squares(x, n);
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

void GeluTanhMul(float* gate, const float* up, int64_t n) { ActiveKernels().gelu_mul(gate, up, n); }

void SoftCap(float* x, int64_t n, float cap) { ActiveKernels().softcap(x, n, cap); }

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
