// Sampler: each knob on small hand-made logits, reproducibility, forbidden tokens and masks.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "base/error.h"
#include "sampling/sampler.h"

namespace g4 {
namespace {

SamplingParams Plain() {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.penalty_last_n = 64;
  return p;
}

std::vector<float> LogitsFromProbs(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(p > 0 ? static_cast<float>(std::log(p)) : -INFINITY);
  return l;
}

// Which tokens get drawn at all over many draws, and how often.
std::map<int32_t, int> Histogram(Sampler& s, const std::vector<float>& logits, int draws,
                                 std::span<const uint64_t> mask = {}) {
  std::map<int32_t, int> h;
  for (int i = 0; i < draws; ++i) ++h[s.Sample(logits, mask)];
  return h;
}

std::set<int32_t> Support(const std::map<int32_t, int>& h) {
  std::set<int32_t> s;
  for (const auto& [t, n] : h) s.insert(t);
  return s;
}

TEST(Sampler, DefaultsAreGemmas) {
  SamplingParams p = DefaultSamplingParams();
  EXPECT_FLOAT_EQ(p.temperature, 1.0f);
  EXPECT_EQ(p.top_k, 64);
  EXPECT_FLOAT_EQ(p.top_p, 0.95f);
  ModelSamplingDefaults model;
  model.top_k = 40;
  model.temperature = 0.7f;
  p = DefaultSamplingParams(model);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_FLOAT_EQ(p.temperature, 0.7f);
  EXPECT_FLOAT_EQ(p.top_p, 0.95f);
  auto forbidden = GemmaForbiddenTokens(262144);
  EXPECT_EQ(forbidden, (std::vector<int32_t>{255999, 256000, 258880, 258881, 258882, 258883, 258884}));
  EXPECT_TRUE(GemmaForbiddenTokens(512).empty());
}

TEST(Sampler, GreedyAtTemperatureZero) {
  SamplingParams p = Plain();
  p.temperature = 0;
  Sampler s(p, 5);
  std::vector<float> logits = {0.1f, 2.0f, 3.0f, 3.0f, -1.0f};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.Sample(logits), 2);  // tie -> lower id
}

TEST(Sampler, FollowsTheDistribution) {
  Sampler s(Plain(), 3);
  auto h = Histogram(s, LogitsFromProbs({0.5, 0.3, 0.2}), 20000);
  EXPECT_NEAR(h[0] / 20000.0, 0.5, 0.02);
  EXPECT_NEAR(h[1] / 20000.0, 0.3, 0.02);
  EXPECT_NEAR(h[2] / 20000.0, 0.2, 0.02);
}

TEST(Sampler, Temperature) {
  SamplingParams p = Plain();
  p.temperature = 0.5f;  // probabilities squared, renormalised: 0.25/0.34, 0.09/0.34
  Sampler s(p, 2);
  auto h = Histogram(s, LogitsFromProbs({0.5, 0.3}), 20000);
  EXPECT_NEAR(h[0] / 20000.0, 0.25 / 0.34, 0.02);
  p.temperature = 100.0f;  // nearly uniform
  Sampler hot(p, 2);
  h = Histogram(hot, LogitsFromProbs({0.9, 0.1}), 20000);
  EXPECT_NEAR(h[0] / 20000.0, 0.5, 0.03);
}

TEST(Sampler, TopK) {
  SamplingParams p = Plain();
  p.top_k = 2;
  Sampler s(p, 5);
  auto h = Histogram(s, LogitsFromProbs({0.1, 0.3, 0.05, 0.4, 0.15}), 5000);
  EXPECT_EQ(Support(h), (std::set<int32_t>{1, 3}));
  EXPECT_NEAR(h[3] / 5000.0, 0.4 / 0.7, 0.03);
}

TEST(Sampler, TopP) {
  SamplingParams p = Plain();
  p.top_p = 0.75f;  // 0.4 + 0.3 = 0.7 < 0.75, so the 0.15 token is kept too
  Sampler s(p, 5);
  auto h = Histogram(s, LogitsFromProbs({0.1, 0.3, 0.05, 0.4, 0.15}), 5000);
  EXPECT_EQ(Support(h), (std::set<int32_t>{1, 3, 4}));
  p.top_p = 0.7f;
  Sampler exact(p, 5);
  EXPECT_EQ(Support(Histogram(exact, LogitsFromProbs({0.1, 0.3, 0.05, 0.4, 0.15}), 5000)),
            (std::set<int32_t>{1, 3}));
}

TEST(Sampler, MinP) {
  SamplingParams p = Plain();
  p.min_p = 0.5f;  // keep p >= 0.2
  Sampler s(p, 5);
  auto h = Histogram(s, LogitsFromProbs({0.1, 0.3, 0.05, 0.4, 0.15}), 5000);
  EXPECT_EQ(Support(h), (std::set<int32_t>{1, 3}));
}

TEST(Sampler, RepetitionPenalty) {
  SamplingParams p = Plain();
  p.temperature = 0;
  p.repetition_penalty = 2.0f;
  Sampler s(p, 3);
  std::vector<float> logits = {3.0f, 2.0f, -1.0f};
  EXPECT_EQ(s.Sample(logits), 0);
  s.Accept(0);  // 3 / 2 = 1.5 < 2
  EXPECT_EQ(s.Sample(logits), 1);
  // Negative logits are multiplied: token 2 goes from -1 to -2.
  std::vector<float> neg = {-1.5f, -3.0f, -1.0f};
  Sampler t(p, 3);
  t.Accept(2);
  EXPECT_EQ(t.Sample(neg), 0);
}

TEST(Sampler, PresenceAndFrequencyPenalties) {
  SamplingParams p = Plain();
  p.temperature = 0;
  p.presence_penalty = 0.5f;
  Sampler s(p, 2);
  std::vector<float> logits = {1.0f, 0.7f};
  s.Accept(0);
  EXPECT_EQ(s.Sample(logits), 1);  // 1.0 - 0.5 < 0.7
  p.presence_penalty = 0;
  p.frequency_penalty = 0.2f;
  Sampler f(p, 2);
  f.Accept(0);
  EXPECT_EQ(f.Sample(logits), 0);  // 1.0 - 0.2 = 0.8
  f.Accept(0);
  EXPECT_EQ(f.Sample(logits), 1);  // 1.0 - 0.4 = 0.6
  // Only the last penalty_last_n tokens count.
  p.penalty_last_n = 1;
  Sampler w(p, 2);
  w.Accept(0);
  w.Accept(0);
  w.Accept(1);
  EXPECT_EQ(w.Sample(logits), 0);
}

TEST(Sampler, SameSeedSameTokens) {
  SamplingParams p = DefaultSamplingParams();
  p.seed = 1234;
  std::vector<float> logits(1000);
  for (int i = 0; i < 1000; ++i) logits[i] = static_cast<float>(std::sin(i * 0.37) * 3);
  Sampler a(p, 1000), b(p, 1000);
  std::vector<int32_t> ta, tb;
  for (int i = 0; i < 200; ++i) {
    ta.push_back(a.Sample(logits));
    tb.push_back(b.Sample(logits));
  }
  EXPECT_EQ(ta, tb);
  p.seed = 99;
  Sampler c(p, 1000);
  std::vector<int32_t> tc;
  for (int i = 0; i < 200; ++i) tc.push_back(c.Sample(logits));
  EXPECT_NE(ta, tc);
  EXPECT_GT(Support([&] {
              std::map<int32_t, int> h;
              for (int32_t t : ta) ++h[t];
              return h;
            }()).size(),
            5u);
}

TEST(Sampler, ForbiddenTokensNeverChosen) {
  SamplingParams p = Plain();
  Sampler s(p, 4);
  s.SetForbiddenTokens({1, 2});
  auto h = Histogram(s, {0.0f, 10.0f, 10.0f, 0.0f}, 2000);
  EXPECT_EQ(Support(h), (std::set<int32_t>{0, 3}));
  p.temperature = 0;
  Sampler g(p, 4);
  g.SetForbiddenTokens({1});
  EXPECT_EQ(g.Sample(std::vector<float>{0.0f, 10.0f, 5.0f, 0.0f}), 2);
  EXPECT_THROW(s.SetForbiddenTokens({4}), Error);
}

TEST(Sampler, MaskRespected) {
  SamplingParams p = DefaultSamplingParams();
  const int32_t n = 200;
  std::vector<float> logits(n, 0.0f);
  logits[7] = 20;  // best token, masked out
  std::vector<uint64_t> mask((n + 63) / 64, 0);
  for (int32_t t : {3, 64, 130, 199}) mask[t >> 6] |= uint64_t{1} << (t & 63);
  Sampler s(p, n);
  auto h = Histogram(s, logits, 3000, mask);
  EXPECT_EQ(Support(h), (std::set<int32_t>{3, 64, 130, 199}));
  std::vector<uint64_t> none((n + 63) / 64, 0);
  EXPECT_THROW(s.Sample(logits, none), Error);
  std::vector<uint64_t> wrong(1, 0);
  EXPECT_THROW(s.Sample(logits, wrong), Error);
}

TEST(Sampler, Logprobs) {
  SamplingParams p = Plain();
  p.temperature = 0;
  p.logprobs = true;
  p.top_logprobs = 2;
  Sampler s(p, 3);
  SampleResult r;
  s.Sample(LogitsFromProbs({0.2, 0.5, 0.3}), {}, &r);
  EXPECT_EQ(r.token, 1);
  EXPECT_NEAR(r.logprob, std::log(0.5), 1e-5);
  ASSERT_EQ(r.top.size(), 2u);
  EXPECT_EQ(r.top[0].token, 1);
  EXPECT_EQ(r.top[1].token, 2);
  EXPECT_NEAR(r.top[1].logprob, std::log(0.3), 1e-5);
}

TEST(Sampler, BadParameters) {
  SamplingParams p;
  p.temperature = -1;
  EXPECT_THROW(Sampler(p, 10), Error);
  p = SamplingParams();
  p.top_p = 0;
  EXPECT_THROW(Sampler(p, 10), Error);
  p = SamplingParams();
  p.min_p = 2;
  EXPECT_THROW(Sampler(p, 10), Error);
  p = SamplingParams();
  Sampler s(p, 10);
  EXPECT_THROW(s.Sample(std::vector<float>(9, 0.0f)), Error);
  // NaN and -inf logits are never chosen.
  std::vector<float> logits(10, -INFINITY);
  logits[4] = NAN;
  logits[6] = 0;
  EXPECT_EQ(s.Sample(logits), 6);
}

TEST(Sampler, LargeVocabularyFast) {
  const int32_t n = 262144;
  std::vector<float> logits(n);
  for (int32_t i = 0; i < n; ++i) logits[i] = static_cast<float>((i * 2654435761u) % 1000) / 100.0f;
  Sampler s(DefaultSamplingParams(), n);
  s.SetForbiddenTokens(GemmaForbiddenTokens(n));
  for (int i = 0; i < 50; ++i) {
    int32_t t = s.Sample(logits);
    EXPECT_GE(logits[t], 9.0f);  // top-64 of 262K values in [0, 10)
  }
}

}  // namespace
}  // namespace g4
