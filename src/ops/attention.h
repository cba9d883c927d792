// Streaming ("flash") attention for the query heads that share one key/value head: keys and
// values are visited in blocks, in position order, with a running softmax (maximum, sum and a
// rescaled output), so no score array as long as the context is needed and each block of K/V
// is converted from its stored type once for the whole head group.
#pragma once

#include <cstdint>
#include <vector>

namespace g4 {

// Positions per block.
constexpr int64_t kAttentionBlock = 32;

class GroupAttention {
 public:
  // q: `group` query heads of `head_dim` floats, one after another. Scores are q·k (scale 1.0,
  // as Gemma 4 uses).
  GroupAttention(const float* q, int group, int head_dim);

  // Room for one block: Keys(j) / Values(j) is where the caller writes (or points at) the j-th
  // position's key / value, for j < n <= kAttentionBlock.
  float* KeySlot(int64_t j) { return &k_block_[j * hd_]; }
  float* ValueSlot(int64_t j) { return &v_block_[j * hd_]; }
  // Takes the n positions of a block whose rows are at k_rows[j] / v_rows[j] (floats).
  void AddBlock(const float* const* k_rows, const float* const* v_rows, int64_t n);
  // out: group × head_dim, the softmax-weighted sum of the values.
  void Finish(float* out) const;

 private:
  const float* q_;
  int group_, hd_;
  std::vector<float> k_block_, v_block_, scores_;
  std::vector<float> max_, sum_, acc_;
};

// The same computed the plain way (all scores, softmax, weighted sum); the reference twin.
// k_rows/v_rows: n positions.
void GroupAttentionReference(const float* q, int group, int head_dim, const float* const* k_rows,
                             const float* const* v_rows, int64_t n, float* out);

}  // namespace g4
