#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "base/error.h"
#include "model/gguf.h"

namespace g4 {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Candidate order: higher logit first, lower id on ties.
bool Before(float la, int32_t ia, float lb, int32_t ib) { return la > lb || (la == lb && ia < ib); }

}  // namespace

ModelSamplingDefaults ReadModelSamplingDefaults(const GgufFile& gguf) {
  ModelSamplingDefaults d;
  auto get_float = [&](const char* key, std::optional<float>& out) {
    if (gguf.Find(key)) out = static_cast<float>(gguf.GetFloat(key));
  };
  auto get_int = [&](const char* key, std::optional<int32_t>& out) {
    if (gguf.Find(key)) out = static_cast<int32_t>(gguf.GetInt(key));
  };
  get_float("general.sampling.temp", d.temperature);
  get_float("general.sampling.top_p", d.top_p);
  get_float("general.sampling.min_p", d.min_p);
  get_float("general.sampling.penalty_repeat", d.repetition_penalty);
  get_int("general.sampling.top_k", d.top_k);
  get_int("general.sampling.penalty_last_n", d.penalty_last_n);
  return d;
}

SamplingParams DefaultSamplingParams(const ModelSamplingDefaults& model) {
  SamplingParams p;  // Gemma 4: temperature 1.0, top-k 64, top-p 0.95
  if (model.temperature) p.temperature = *model.temperature;
  if (model.top_k) p.top_k = *model.top_k;
  if (model.top_p) p.top_p = *model.top_p;
  if (model.min_p) p.min_p = *model.min_p;
  if (model.repetition_penalty) p.repetition_penalty = *model.repetition_penalty;
  if (model.penalty_last_n) p.penalty_last_n = *model.penalty_last_n;
  return p;
}

std::vector<int32_t> GemmaForbiddenTokens(int32_t n_vocab) {
  std::vector<int32_t> ids;
  for (int32_t id : {255999, 256000, 258880, 258881, 258882, 258883, 258884})
    if (id < n_vocab) ids.push_back(id);
  return ids;
}

void ValidateSamplingParams(const SamplingParams& p, int32_t n_vocab) {
  if (n_vocab <= 0) Fail("sampling: vocabulary size must be positive, got ", n_vocab);
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature))
    Fail("sampling: temperature must be >= 0, got ", p.temperature);
  if (p.top_k < 0) Fail("sampling: top_k must be >= 0 (0 = off), got ", p.top_k);
  if (!(p.top_p > 0 && p.top_p <= 1)) Fail("sampling: top_p must be in (0, 1], got ", p.top_p);
  if (!(p.min_p >= 0 && p.min_p <= 1)) Fail("sampling: min_p must be in [0, 1], got ", p.min_p);
  if (!(p.repetition_penalty > 0) || !std::isfinite(p.repetition_penalty))
    Fail("sampling: repetition_penalty must be > 0, got ", p.repetition_penalty);
  if (!std::isfinite(p.presence_penalty)) Fail("sampling: presence_penalty must be finite");
  if (!std::isfinite(p.frequency_penalty)) Fail("sampling: frequency_penalty must be finite");
  if (p.penalty_last_n < -1) Fail("sampling: penalty_last_n must be >= -1, got ", p.penalty_last_n);
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= n_vocab) Fail("sampling: logit_bias token id ", id, " out of range [0, ", n_vocab, ")");
    if (!std::isfinite(bias)) Fail("sampling: logit_bias of token ", id, " must be finite");
  }
  if (p.top_logprobs < 0 || p.top_logprobs > 100)
    Fail("sampling: top_logprobs must be in [0, 100], got ", p.top_logprobs);
}

Sampler::Sampler(const SamplingParams& params, int32_t n_vocab)
    : params_(params), n_vocab_(n_vocab), forbidden_(static_cast<size_t>(std::max(n_vocab, 0)), 0), rng_(params.seed) {
  ValidateSamplingParams(params_, n_vocab);
}

void Sampler::SetForbiddenTokens(const std::vector<int32_t>& ids) {
  for (int32_t id : ids)
    if (id < 0 || id >= n_vocab_) Fail("sampling: forbidden token id ", id, " out of range [0, ", n_vocab_, ")");
  std::fill(forbidden_.begin(), forbidden_.end(), 0);
  forbidden_ids_.clear();
  for (int32_t id : ids) {
    if (!forbidden_[id]) forbidden_ids_.push_back(id);
    forbidden_[id] = 1;
  }
}

void Sampler::Accept(int32_t token) {
  if (params_.penalty_last_n == 0) return;
  history_.push_back(token);
  if (params_.penalty_last_n > 0 && history_.size() > static_cast<size_t>(params_.penalty_last_n))
    history_.pop_front();
}

void Sampler::ResetHistory() { history_.clear(); }

double Sampler::Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

template <typename F>
void Sampler::ForEachCandidate(std::span<const float> logits, std::span<const uint64_t> allowed, const float& floor,
                               F&& f) const {
  // One pass over the logits without copying them: masked-out words are skipped 64 at a time,
  // and the few forbidden or penalised tokens come from the id-sorted overrides_ list. Only
  // logits above `floor` (which f may raise) reach f, so most tokens cost one compare.
  const size_t words = (static_cast<size_t>(n_vocab_) + 63) / 64;
  size_t o = 0;
  for (size_t w = 0; w < words; ++w) {
    const uint64_t bits = allowed.empty() ? ~uint64_t{0} : allowed[w];
    if (bits == 0) continue;
    const int32_t begin = static_cast<int32_t>(w * 64);
    const int32_t end = std::min<int32_t>(n_vocab_, begin + 64);
    while (o < overrides_.size() && overrides_[o].id < begin) ++o;
    if (bits == ~uint64_t{0} && (o == overrides_.size() || overrides_[o].id >= end)) {
      for (int32_t i = begin; i < end; ++i) {  // the common case: a plain run of logits
        const float l = logits[i];
        if (l > floor) f(l, i);
      }
      continue;
    }
    for (int32_t i = begin; i < end; ++i) {
      if (!((bits >> (i - begin)) & 1)) continue;
      float l = logits[i];
      while (o < overrides_.size() && overrides_[o].id < i) ++o;
      if (o < overrides_.size() && overrides_[o].id == i) l = overrides_[o].logit;
      if (l > floor) f(l, i);  // never -inf or NaN
    }
  }
}

int32_t Sampler::Sample(std::span<const float> logits, std::span<const uint64_t> allowed, SampleResult* result) {
  const SamplingParams& p = params_;
  if (logits.size() != static_cast<size_t>(n_vocab_))
    Fail("sampling: got ", logits.size(), " logits for a vocabulary of ", n_vocab_);
  const size_t words = (static_cast<size_t>(n_vocab_) + 63) / 64;
  if (!allowed.empty() && allowed.size() != words)
    Fail("sampling: allowed-token mask has ", allowed.size(), " words, expected ", words);

  // 1. Overrides: forbidden tokens, then logit biases, then penalties over the distinct tokens
  // of the window.
  overrides_.clear();
  for (int32_t id : forbidden_ids_) overrides_.push_back({kNegInf, id});
  std::map<int32_t, float> adjusted;
  for (const auto& [t, bias] : p.logit_bias)
    if (!forbidden_[t] && !std::isnan(logits[t]) && logits[t] != kNegInf) adjusted[t] = logits[t] + bias;
  if (!history_.empty() &&
      (p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f)) {
    std::map<int32_t, int> counts;
    for (int32_t t : history_)
      if (t >= 0 && t < n_vocab_ && !forbidden_[t]) ++counts[t];
    for (const auto& [t, c] : counts) {
      const auto biased = adjusted.find(t);
      float l = biased != adjusted.end() ? biased->second : logits[t];
      if (std::isnan(l) || l == kNegInf) continue;
      l = l > 0 ? l / p.repetition_penalty : l * p.repetition_penalty;
      l -= static_cast<float>(c) * p.frequency_penalty + p.presence_penalty;
      adjusted[t] = l;
    }
  }
  for (const auto& [t, l] : adjusted) overrides_.push_back({l, t});
  std::sort(overrides_.begin(), overrides_.end(), [](const Cand& a, const Cand& b) { return a.id < b.id; });

  int32_t chosen = -1;
  if (p.temperature == 0.0f || p.top_k == 1) {
    // 2. Greedy (ids ascend, so the first of equal logits wins).
    float best = kNegInf;
    ForEachCandidate(logits, allowed, best, [&](float l, int32_t i) {
      best = l;
      chosen = i;
    });
  } else {
    // 3. Top-k by a bounded min-heap (most tokens are rejected by one compare), or, with top-k
    // off, every candidate.
    cands_.clear();
    auto order = [](const Cand& a, const Cand& b) { return Before(a.logit, a.id, b.logit, b.id); };
    const size_t k = p.top_k > 0 ? static_cast<size_t>(p.top_k) : SIZE_MAX;
    // `threshold` is the heap's worst logit once it is full (-inf before): the one compare most
    // tokens get. Ids ascend, so a logit equal to it never wins.
    float threshold = kNegInf;
    ForEachCandidate(logits, allowed, threshold, [&](float l, int32_t i) {
      if (cands_.size() < k) {
        cands_.push_back({l, i});
        if (cands_.size() == k) {
          std::make_heap(cands_.begin(), cands_.end(), order);
          threshold = cands_.front().logit;
        }
        return;
      }
      std::pop_heap(cands_.begin(), cands_.end(), order);
      cands_.back() = {l, i};
      std::push_heap(cands_.begin(), cands_.end(), order);
      threshold = cands_.front().logit;
    });
    if (!cands_.empty()) {
      // 4. Temperature and softmax over the candidates (relative to the best one).
      const double inv_t = 1.0 / p.temperature;
      float top = kNegInf;
      for (const Cand& c : cands_) top = std::max(top, c.logit);
      double z = 0;
      for (const Cand& c : cands_) z += std::exp((c.logit - top) * inv_t);
      // Only the head is needed in order: sort a growing prefix until it covers top_p.
      size_t sorted = cands_.size();
      if (cands_.size() > 1024 && p.top_p < 1.0f) {
        for (sorted = 1024;; sorted = std::min(cands_.size(), sorted * 4)) {
          std::partial_sort(cands_.begin(), cands_.begin() + sorted, cands_.end(), order);
          double cum = 0;
          for (size_t i = 0; i < sorted; ++i) cum += std::exp((cands_[i].logit - top) * inv_t) / z;
          if (cum >= p.top_p || sorted == cands_.size()) break;
        }
        cands_.resize(sorted);
      } else {
        std::sort(cands_.begin(), cands_.end(), order);
      }
      std::vector<double>& probs = probs_;
      probs.resize(cands_.size());
      for (size_t i = 0; i < cands_.size(); ++i) probs[i] = std::exp((cands_[i].logit - top) * inv_t) / z;
      // 5. Top-p: the smallest prefix reaching top_p (at least one token).
      size_t keep = probs.size();
      if (p.top_p < 1.0f) {
        double cum = 0;
        for (size_t i = 0; i < probs.size(); ++i) {
          cum += probs[i];
          if (cum >= p.top_p) {
            keep = i + 1;
            break;
          }
        }
      }
      // 6. Min-p, relative to the most likely token.
      if (p.min_p > 0.0f) {
        const double threshold = probs[0] * p.min_p;
        size_t m = 1;
        while (m < keep && probs[m] >= threshold) ++m;
        keep = m;
      }
      // 7. Draw from what is kept, renormalised.
      double total = 0;
      for (size_t i = 0; i < keep; ++i) total += probs[i];
      const double u = Uniform() * total;
      double cum = 0;
      chosen = cands_[keep - 1].id;
      for (size_t i = 0; i < keep; ++i) {
        cum += probs[i];
        if (u < cum) {
          chosen = cands_[i].id;
          break;
        }
      }
    }
  }
  if (chosen < 0) Fail("sampling: no token can be chosen (all are forbidden, masked out or -inf)");
  if (result) {
    result->token = chosen;
    result->top.clear();
    result->logprob = 0;
    if (p.logprobs || p.top_logprobs > 0) FillLogprobs(logits, chosen, *result);
  }
  return chosen;
}

void Sampler::FillLogprobs(std::span<const float> logits, int32_t chosen, SampleResult& result) const {
  float max = kNegInf;
  for (float l : logits)
    if (!std::isnan(l) && l > max) max = l;
  double sum = 0;
  for (float l : logits)
    if (!std::isnan(l) && l != kNegInf) sum += std::exp(static_cast<double>(l) - max);
  const double log_z = max + std::log(sum);
  auto logprob = [&](int32_t id) {
    const float l = logits[id];
    return std::isnan(l) ? kNegInf : static_cast<float>(l - log_z);
  };
  result.logprob = logprob(chosen);
  const size_t n = static_cast<size_t>(params_.top_logprobs);
  if (n == 0) return;
  std::vector<Cand> top;
  auto cmp = [](const Cand& a, const Cand& b) { return Before(a.logit, a.id, b.logit, b.id); };
  for (int32_t i = 0; i < n_vocab_; ++i) {
    const float l = std::isnan(logits[i]) ? kNegInf : logits[i];
    if (top.size() < n) {
      top.push_back({l, i});
      if (top.size() == n) std::make_heap(top.begin(), top.end(), cmp);
    } else if (l > top.front().logit) {
      std::pop_heap(top.begin(), top.end(), cmp);
      top.back() = {l, i};
      std::push_heap(top.begin(), top.end(), cmp);
    }
  }
  std::sort(top.begin(), top.end(), cmp);
  for (const Cand& c : top) result.top.push_back({c.id, logprob(c.id)});
}

}  // namespace g4
