// A sequence's KV cache together with the tokens in it, able to start a new prompt from the
// longest prefix it still holds. Sliding-window rings forget what is older than their window,
// so the cache keeps checkpoints (copies of the rings) at turn boundaries and at the end of
// each prompt: a prompt that shares the system prompt or the earlier turns of a chat rewinds
// to the nearest checkpoint instead of being evaluated from scratch.
//
// Positions are compared by their PositionKeys (engine/soft_tokens.h): text by token id, soft
// positions by the content key of their media, so the same image in a follow-up turn reuses
// its KV entries and a different image never does.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "engine/soft_tokens.h"
#include "model/kv_cache.h"

namespace g4 {

struct PrefixReuse {
  int64_t kept = 0;          // prompt tokens already in the cache
  bool from_checkpoint = false;
};

class CachedSequence {
 public:
  // max_checkpoints: how many ring copies to keep (0: none; oldest dropped first).
  CachedSequence(const ModelConfig& config, int max_context, int max_checkpoints, DType kv_type);

  KvCache& cache() { return cache_; }
  const KvCache& cache() const { return cache_; }
  const std::vector<uint64_t>& position_keys() const { return keys_; }
  int64_t n_tokens() const { return cache_.n_tokens(); }

  // Tokens of `prompt` the cache could keep (at most prompt.size() - 1, so the last prompt
  // token is always evaluated and yields logits). For choosing among several sequences.
  // `prompt` holds the PositionKeys of the prompt.
  int64_t ReusablePrefix(const std::vector<uint64_t>& prompt) const;
  // Rewinds the cache to that prefix (or clears it) for evaluating `prompt`.
  PrefixReuse PrepareFor(const std::vector<uint64_t>& prompt);
  // Records the keys of positions the decoder has just appended to the cache.
  void Appended(const uint64_t* keys, int64_t n);
  // Keeps a copy of the rings at the current length (no-op for models without rings, or when
  // one exists at this length).
  void Checkpoint();
  void Clear();

  size_t checkpoint_bytes() const;
  size_t checkpoint_count() const { return checkpoints_.size(); }

 private:
  bool has_rings_ = false;
  int max_checkpoints_;
  KvCache cache_;
  std::vector<uint64_t> keys_;  // PositionKeys of the cached positions
  std::deque<KvCache::Checkpoint> checkpoints_;  // increasing n_tokens
};

// Where a prompt's prefill should pause to take checkpoints: before each turn (`turn_start`
// token id) and at the end. Positions are lengths (the cache holds tokens [0, p)).
std::vector<int64_t> CheckpointPositions(const std::vector<int32_t>& prompt, int32_t turn_start);

}  // namespace g4
