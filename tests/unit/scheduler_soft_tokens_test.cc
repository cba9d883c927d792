// The batch scheduler with soft tokens: a prompt holding an image run (bidirectional on the tiny
// 31B-style model) and an audio run, prefilled in passes of at most 4 tokens next to another
// sequence, gives exactly what the single-sequence generator gives (which prefills the run in
// one pass): the run is never split, and each sequence's embeddings stay its own.
#include <gtest/gtest.h>

#include <future>
#include <random>

#include "base/error.h"
#include "engine/generator.h"
#include "model/model.h"
#include "server/scheduler.h"

namespace g4 {
namespace {

struct SoftPrompt {
  std::vector<int32_t> ids;
  SoftTokens soft;
};

SoftPrompt MakePrompt(int64_t width, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  SoftPrompt p;
  p.soft.width = width;
  std::vector<float> rows(16 * width);
  for (float& v : rows) v = normal(rng);
  p.ids = {2, 17, 300, 45, 510};
  p.ids.insert(p.ids.end(), 11, kSoftToken);
  p.soft.Append(rows.data(), 11, seed, /*bidirectional_run=*/true);
  for (int32_t id : {511, 60, 508}) p.ids.push_back(id);
  p.ids.insert(p.ids.end(), 5, kSoftToken);
  p.soft.Append(rows.data() + 11 * width, 5, seed + 1, /*bidirectional_run=*/false);
  for (int32_t id : {509, 71, 33}) p.ids.push_back(id);
  return p;
}

GenerateOptions Greedy() {
  GenerateOptions o;
  o.sampling.temperature = 0;
  o.sampling.logprobs = true;
  o.max_tokens = 6;
  return o;
}

TEST(SchedulerSoftTokensTest, MatchesTheGeneratorWithSmallPasses) {
  std::unique_ptr<Model> model = Model::Load(std::string(G4_TEST_DATA_DIR) + "/models/tiny-dense.f32.gguf");
  ASSERT_TRUE(model->config().vision_bidirectional);
  const int64_t width = model->config().d_model;
  const SoftPrompt a = MakePrompt(width, 1), b = MakePrompt(width, 2);

  SessionOptions session;
  session.max_context = 128;
  session.n_threads = 2;
  session.kv_type = DType::kF32;
  std::vector<GenerateResult> alone;
  for (const SoftPrompt* p : {&a, &b}) {
    Generator generator(*model, model->tokenizer(), session);
    alone.push_back(generator.Generate(p->ids, Greedy(), {}, nullptr, &p->soft));
  }
  ASSERT_NE(alone[0].tokens, alone[1].tokens) << "the two images should lead to different answers";

  SchedulerOptions options;
  options.parallel = 2;
  options.context = 128;
  options.n_threads = 2;
  options.batch_tokens = 4;
  options.kv_type = DType::kF32;
  BatchScheduler scheduler(*model, model->tokenizer(), options);
  std::vector<std::promise<GenerateResult>> done(2);
  for (int i = 0; i < 2; ++i) {
    auto request = std::make_shared<ScheduledRequest>();
    const SoftPrompt& p = i == 0 ? a : b;
    request->prompt = p.ids;
    request->soft = p.soft;
    request->options = Greedy();
    request->on_done = [&done, i](GenerateResult r, const std::string& error) {
      EXPECT_EQ(error, "");
      done[i].set_value(std::move(r));
    };
    ASSERT_TRUE(scheduler.Submit(request));
  }
  for (int i = 0; i < 2; ++i) {
    const GenerateResult r = done[i].get_future().get();
    EXPECT_EQ(r.tokens, alone[i].tokens) << i;
    ASSERT_EQ(r.logprobs.size(), alone[i].logprobs.size());
    for (size_t t = 0; t < r.logprobs.size(); ++t) EXPECT_EQ(r.logprobs[t].logprob, alone[i].logprobs[t].logprob) << i;
  }
}

TEST(SchedulerSoftTokensTest, RowsMustMatchTheSoftPositions) {
  std::unique_ptr<Model> model = Model::Load(std::string(G4_TEST_DATA_DIR) + "/models/tiny-dense.f32.gguf");
  SchedulerOptions options;
  options.parallel = 1;
  options.context = 64;
  BatchScheduler scheduler(*model, model->tokenizer(), options);
  auto request = std::make_shared<ScheduledRequest>();
  SoftPrompt p = MakePrompt(model->config().d_model, 3);
  request->prompt = p.ids;
  request->prompt.push_back(kSoftToken);  // one position more than rows
  request->soft = p.soft;
  EXPECT_THROW(scheduler.Submit(request), Error);
}

}  // namespace
}  // namespace g4
