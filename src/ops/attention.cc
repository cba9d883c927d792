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
      scores_(static_cast<size_t>(group) * kAttentionBlock),
      max_(group, -std::numeric_limits<float>::infinity()),
      sum_(group, 0.0f),
      acc_(static_cast<size_t>(group) * head_dim, 0.0f) {}

void GroupAttention::AddBlock(const float* const* k_rows, const float* const* v_rows, int64_t n) {
  const KernelTable& kt = ActiveKernels();
  // Every query of the group against every key of the block at once, so each key and value
  // row is loaded once for the whole group.
  kt.attention_scores(q_, group_, hd_, k_rows, n, scores_.data());
  for (int g = 0; g < group_; ++g) {
    float* p = &scores_[static_cast<size_t>(g) * n];
    float block_max = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < n; ++j) block_max = std::max(block_max, p[j]);
    // Rescale what came before to the new maximum; the scores become this block's weights.
    const float new_max = std::max(max_[g], block_max);
    const float rescale = std::exp(max_[g] - new_max);
    float* acc = &acc_[static_cast<size_t>(g) * hd_];
    if (rescale != 1.0f) {
      for (int i = 0; i < hd_; ++i) acc[i] *= rescale;
    }
    sum_[g] = sum_[g] * rescale + kt.exp_shifted(p, n, new_max);
    max_[g] = new_max;
  }
  kt.attention_values(scores_.data(), group_, hd_, v_rows, n, acc_.data());
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
