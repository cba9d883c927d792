#include "engine/cached_sequence.h"

#include <algorithm>

namespace g4 {

CachedSequence::CachedSequence(const ModelConfig& config, int max_context, int max_checkpoints, DType kv_type)
    : max_checkpoints_(max_checkpoints), cache_(config, max_context, kv_type) {
  for (const LayerSpec& spec : config.layers) {
    if (spec.owns_kv && spec.window > 0 && spec.window < max_context) has_rings_ = true;
  }
}

namespace {

int64_t CommonPrefix(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return static_cast<int64_t>(i);
}

}  // namespace

int64_t CachedSequence::ReusablePrefix(const std::vector<uint64_t>& prompt) const {
  const int64_t limit = std::min<int64_t>(CommonPrefix(keys_, prompt), static_cast<int64_t>(prompt.size()) - 1);
  if (limit <= 0) return 0;
  if (cache_.CanTruncateTo(limit)) return limit;
  int64_t best = 0;
  for (const KvCache::Checkpoint& cp : checkpoints_) {
    if (cp.n_tokens <= limit) best = std::max(best, cp.n_tokens);
  }
  return best;
}

PrefixReuse CachedSequence::PrepareFor(const std::vector<uint64_t>& prompt) {
  PrefixReuse reuse;
  reuse.kept = ReusablePrefix(prompt);
  if (reuse.kept == 0) {
    Clear();
    return reuse;
  }
  if (cache_.CanTruncateTo(reuse.kept)) {
    cache_.TruncateTo(reuse.kept);
  } else {
    const auto it = std::find_if(checkpoints_.begin(), checkpoints_.end(),
                                 [&](const KvCache::Checkpoint& cp) { return cp.n_tokens == reuse.kept; });
    cache_.Restore(*it);
    reuse.from_checkpoint = true;
  }
  keys_.resize(reuse.kept);
  // Checkpoints past the rewind point describe tokens that are about to be replaced.
  while (!checkpoints_.empty() && checkpoints_.back().n_tokens > reuse.kept) checkpoints_.pop_back();
  return reuse;
}

void CachedSequence::Appended(const uint64_t* keys, int64_t n) { keys_.insert(keys_.end(), keys, keys + n); }

void CachedSequence::Checkpoint() {
  if (!has_rings_ || max_checkpoints_ <= 0 || cache_.n_tokens() == 0) return;
  if (!checkpoints_.empty() && checkpoints_.back().n_tokens == cache_.n_tokens()) return;
  checkpoints_.push_back(cache_.MakeCheckpoint());
  while (static_cast<int>(checkpoints_.size()) > max_checkpoints_) checkpoints_.pop_front();
}

void CachedSequence::Clear() {
  cache_.Clear();
  keys_.clear();
  checkpoints_.clear();
}

size_t CachedSequence::checkpoint_bytes() const {
  size_t total = 0;
  for (const KvCache::Checkpoint& cp : checkpoints_) total += cp.bytes();
  return total;
}

std::vector<int64_t> CheckpointPositions(const std::vector<int32_t>& prompt, int32_t turn_start) {
  std::vector<int64_t> positions;
  for (size_t i = 1; i < prompt.size(); ++i) {
    if (prompt[i] == turn_start) positions.push_back(static_cast<int64_t>(i));
  }
  positions.push_back(static_cast<int64_t>(prompt.size()));
  return positions;
}

}  // namespace g4
