// The Gemma 4 text decoder (spec/gemma4-text.md §2) and a session that evaluates tokens
// through it with a KV cache.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/thread_pool.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace g4 {

struct SessionOptions {
  int max_context = 0;  // 0: the model's context length, capped at 32768
  int n_threads = 0;    // 0: one per hardware thread
};

class Gemma4Session {
 public:
  Gemma4Session(const Model& model, const SessionOptions& options);

  // Evaluates `n` tokens at positions n_past() .. n_past()+n-1 in one batch and appends them
  // to the cache. When `logits` is given it receives the logits of every position ([n][vocab])
  // if all_positions, else only those of the last one ([vocab]). Throws g4::Error for a token
  // id outside the vocabulary or a sequence longer than the context.
  void Eval(const int32_t* tokens, int64_t n, bool all_positions, std::vector<float>* logits);

  int64_t n_past() const { return n_past_; }
  int max_context() const { return cache_.max_context(); }
  void Reset();
  const KvCache& cache() const { return cache_; }

 private:
  struct Batch;
  void Embed(Batch& b) const;
  void ComputePerLayerInputs(Batch& b) const;
  void Attention(int layer, Batch& b);
  void FeedForward(int layer, Batch& b) const;
  void DenseMlp(const LayerWeights& w, int ff_dim, const float* in, int64_t n, float* out) const;
  void Experts(int layer, const float* residual, int64_t n, float* out) const;
  void InjectPerLayerInput(int layer, Batch& b) const;
  void Output(Batch& b, bool all_positions, std::vector<float>* logits) const;

  const Model& model_;
  const ModelConfig& config_;
  const ModelWeights& weights_;
  mutable ThreadPool pool_;
  KvCache cache_;
  int64_t n_past_ = 0;
};

}  // namespace g4
