// Token sampling: temperature, top-k, top-p, min-p, repetition / presence / frequency penalties,
// forbidden tokens and an optional allowed-token mask (from a grammar), seeded and reproducible.
//
// Order (Hugging Face's, which Google's recommended settings were made for): forbidden tokens and
// the mask -> logit biases -> penalties -> greedy if temperature == 0 -> top-k -> temperature -> top-p -> min-p
// -> draw. Penalties follow llama.cpp / OpenAI: over the last `penalty_last_n` accepted tokens,
// each distinct token with count c gets logit / repetition_penalty if positive (times it if not),
// then minus c * frequency_penalty and minus presence_penalty.
//
// Reproducible: the same seed, logits and accepted tokens give the same tokens. Draws use
// std::mt19937_64 (fully specified by the standard) and our own uniform conversion; ties in
// logits are broken by the lower token id everywhere.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace g4 {

class GgufFile;

struct SamplingParams {
  float temperature = 1.0f;      // 0: greedy
  int32_t top_k = 64;            // 0: off
  float top_p = 0.95f;           // 1: off
  float min_p = 0.0f;            // 0: off
  float repetition_penalty = 1.0f;  // 1: off
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int32_t penalty_last_n = 64;   // window of accepted tokens for penalties; -1: all of them
  std::vector<std::pair<int32_t, float>> logit_bias;  // (token id, added to its logit), OpenAI's
  uint64_t seed = 0;
  bool logprobs = false;         // report the chosen token's log-probability
  int32_t top_logprobs = 0;      // and this many most likely alternatives (0..100)
};

// Sampling values a model file may carry (llama.cpp's GGUF general.sampling.* keys).
struct ModelSamplingDefaults {
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int32_t> top_k, penalty_last_n;
};
// Reads general.sampling.{temp,top_k,top_p,min_p,penalty_repeat,penalty_last_n} where present.
ModelSamplingDefaults ReadModelSamplingDefaults(const GgufFile& gguf);
// Gemma 4's recommended settings (temperature 1.0, top-k 64, top-p 0.95), overridden by the
// model's own values where it has them.
SamplingParams DefaultSamplingParams(const ModelSamplingDefaults& model = {});

// Multimodal placeholders and delimiters that must never be sampled (spec §2.3): 255999, 256000,
// 258880-258884, those below n_vocab.
std::vector<int32_t> GemmaForbiddenTokens(int32_t n_vocab);

struct TokenLogprob {
  int32_t token;
  float logprob;
};

struct SampleResult {
  int32_t token = -1;
  // With logprobs: log-softmax of the logits as given (the model's distribution, before
  // penalties, masks and truncation), for the chosen token and the top alternatives.
  float logprob = 0.0f;
  std::vector<TokenLogprob> top;
};

// Throws g4::Error naming the first out-of-range parameter (what the Sampler constructor checks),
// so a request can be refused before it is queued.
void ValidateSamplingParams(const SamplingParams& params, int32_t n_vocab);

class Sampler {
 public:
  // Throws g4::Error for out-of-range parameters.
  Sampler(const SamplingParams& params, int32_t n_vocab);

  void SetForbiddenTokens(const std::vector<int32_t>& ids);

  // logits: n_vocab values. allowed: empty, or (n_vocab + 63) / 64 words with bit (id & 63) of
  // word (id >> 6) set for allowed tokens. Throws g4::Error when no token can be chosen.
  int32_t Sample(std::span<const float> logits, std::span<const uint64_t> allowed = {},
                 SampleResult* result = nullptr);

  // Records a generated (or prompt, if the caller wants them penalised) token for penalties.
  void Accept(int32_t token);
  void ResetHistory();
  void Reseed(uint64_t seed) { rng_.seed(seed); }

  const SamplingParams& params() const { return params_; }

 private:
  struct Cand {
    float logit;
    int32_t id;
  };
  double Uniform();
  void FillLogprobs(std::span<const float> logits, int32_t chosen, SampleResult& result) const;
  template <typename F>
  void ForEachCandidate(std::span<const float> logits, std::span<const uint64_t> allowed, const float& floor,
                        F&& f) const;

  SamplingParams params_;
  int32_t n_vocab_;
  std::vector<uint8_t> forbidden_;
  std::vector<int32_t> forbidden_ids_;
  std::deque<int32_t> history_;
  std::mt19937_64 rng_;
  std::vector<Cand> overrides_;  // forbidden and penalised tokens, sorted by id
  std::vector<Cand> cands_;
  std::vector<double> probs_;
};

}  // namespace g4
