#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/kernels.h"
#include "ops/ops.h"

namespace g4 {

GroupAttention::GroupAttention(const float* q, int group, int head_dim)
    : q_(q),
      group_(group),
      hd_(head_dim),
      k_block_(kAttentionBlock * head_dim),
      v_block_(kAttentionBlock * head_dim),
      scores_(kAttentionBlock),
      max_(group, -std::numeric_limits<float>::infinity()),
      sum_(group, 0.0f),
      acc_(static_cast<size_t>(group) * head_dim, 0.0f) {}

void GroupAttention::AddBlock(const float* const* k_rows, const float* const* v_rows, int64_t n) {
  const auto axpy = ActiveKernels().axpy_f32;
  for (int g = 0; g < group_; ++g) {
    const float* q = q_ + static_cast<int64_t>(g) * hd_;
    float block_max = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < n; ++j) {
      scores_[j] = Dot(q, k_rows[j], hd_);
      block_max = std::max(block_max, scores_[j]);
    }
    // Rescale what came before to the new maximum, then add this block's weights.
    const float new_max = std::max(max_[g], block_max);
    const float rescale = std::exp(max_[g] - new_max);
    float* acc = &acc_[static_cast<size_t>(g) * hd_];
    if (rescale != 1.0f) {
      for (int i = 0; i < hd_; ++i) acc[i] *= rescale;
    }
    float sum = sum_[g] * rescale;
    for (int64_t j = 0; j < n; ++j) {
      const float p = std::exp(scores_[j] - new_max);
      sum += p;
      axpy(p, v_rows[j], acc, hd_);
    }
    sum_[g] = sum;
    max_[g] = new_max;
  }
}

void GroupAttention::Finish(float* out) const {
  for (int g = 0; g < group_; ++g) {
    const float inv = sum_[g] > 0 ? 1.0f / sum_[g] : 0.0f;
    for (int i = 0; i < hd_; ++i) out[g * hd_ + i] = acc_[static_cast<size_t>(g) * hd_ + i] * inv;
  }
}

void GroupAttentionReference(const float* q, int group, int head_dim, const float* const* k_rows,
                             const float* const* v_rows, int64_t n, float* out) {
  std::vector<float> scores(n);
  for (int g = 0; g < group; ++g) {
    const float* qg = q + static_cast<int64_t>(g) * head_dim;
    for (int64_t j = 0; j < n; ++j) scores[j] = Dot(qg, k_rows[j], head_dim);
    Softmax(scores.data(), n);
    float* o = out + static_cast<int64_t>(g) * head_dim;
    std::fill(o, o + head_dim, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      for (int i = 0; i < head_dim; ++i) o[i] += scores[j] * v_rows[j][i];
    }
  }
}

}  // namespace g4
