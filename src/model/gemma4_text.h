// The Gemma 4 text decoder (spec/gemma4-text.md §2), evaluating one or several sequences in a
// forward pass, and a single-sequence session on top of it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace g4 {

struct SessionOptions {
  int max_context = 0;  // 0: the model's context length, capped at 32768
  int n_threads = 0;    // 0: one per hardware thread
  DType kv_type = DType::kF16;
};

// The model's default context for a requested size (0: the model's own, capped at 32768).
int DefaultContext(const ModelConfig& config, int requested);

// One sequence's part of a forward pass: `n` tokens at positions cache->n_tokens() onwards.
struct SequenceStep {
  KvCache* cache = nullptr;
  const int32_t* tokens = nullptr;
  int64_t n = 0;
  // Receives [n][vocab] logits when all_positions, else the last position's [vocab]; null for
  // none (a prefill chunk that is not the last).
  std::vector<float>* logits = nullptr;
  bool all_positions = false;
  // Soft tokens (image or audio embeddings from an encoder, d_model floats each): positions
  // whose token id is kSoftToken take the next row of these, in order, unscaled (spec §4.4).
  const float* soft_embeddings = nullptr;
  // Per soft row (same order): 1 for image and video-frame positions. On models whose config
  // asks for it (ModelConfig::vision_bidirectional), each maximal run of such positions attends
  // both ways on the sliding-window layers (spec §4.4); a run must lie wholly in one step.
  const uint8_t* soft_bidirectional = nullptr;
};

// Token id marking a soft-token position in SequenceStep::tokens.
constexpr int32_t kSoftToken = -1;

// Prompts are evaluated in pieces of this many tokens so activation buffers stay small for long
// prompts; the memory estimate sizes those buffers from it.
constexpr int64_t kPrefillChunk = 512;
// Copies of its sliding-window rings a sequence keeps for prefix reuse (the memory estimate
// counts them).
constexpr int kDefaultCheckpoints = 8;

// The decoder proper: weights and a thread pool, no sequence state. Every matmul runs over the
// tokens of all sequences in the step at once (the weights are read once per step); attention
// runs per sequence over its own cache. Each token's result is computed the same way whatever
// else is in the step, so batching sequences together does not change any of them.
class Gemma4Decoder {
 public:
  Gemma4Decoder(const Model& model, int n_threads);

  // Evaluates every step's tokens and appends their keys and values to the step's cache.
  // Throws g4::Error for a token id outside the vocabulary or a sequence longer than its cache.
  void Forward(std::span<const SequenceStep> steps);

  const Model& model() const { return model_; }
  ThreadPool& pool() const { return pool_; }

 private:
  struct Batch;
  void Embed(Batch& b) const;
  void ComputePerLayerInputs(Batch& b) const;
  void Attention(int layer, Batch& b) const;
  void AttendKvGroup(const Batch& b, int layer, int64_t t, int kv_head, const float* q, float* out) const;
  void FeedForward(int layer, Batch& b) const;
  void DenseMlp(const LayerWeights& w, int ff_dim, const float* in, int64_t n, float* out, Batch& b) const;
  void Experts(int layer, const float* residual, int64_t n, float* out, Batch& b) const;
  void InjectPerLayerInput(int layer, Batch& b) const;
  void Output(Batch& b) const;

  const Model& model_;
  const ModelConfig& config_;
  const ModelWeights& weights_;
  mutable ThreadPool pool_;
};

// One sequence with its own KV cache and decoder.
class Gemma4Session {
 public:
  Gemma4Session(const Model& model, const SessionOptions& options);

  // Evaluates `n` tokens at positions n_past() .. n_past()+n-1 in one batch and appends them
  // to the cache. When `logits` is given it receives the logits of every position ([n][vocab])
  // if all_positions, else only those of the last one ([vocab]).
  void Eval(const int32_t* tokens, int64_t n, bool all_positions, std::vector<float>* logits);

  int64_t n_past() const { return cache_.n_tokens(); }
  int max_context() const { return cache_.max_context(); }
  void Reset() { cache_.Clear(); }
  KvCache& cache() { return cache_; }
  const KvCache& cache() const { return cache_; }
  Gemma4Decoder& decoder() { return decoder_; }

 private:
  Gemma4Decoder decoder_;
  KvCache cache_;
};

}  // namespace g4
