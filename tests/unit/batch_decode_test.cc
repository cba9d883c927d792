// Several sequences in one forward pass, KV truncation and checkpoints: each must give the
// logits a sequence gets when evaluated on its own from scratch.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "model/gemma4_text.h"
#include "model/model.h"

namespace g4 {
namespace {

const std::string kModels = std::string(G4_TEST_DATA_DIR) + "/models";
// F16, the default: keys and values are rounded the same way whether they are read in the pass
// that made them or from the cache later.
constexpr DType kKvType = DType::kF16;

std::vector<int32_t> RandomTokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<int32_t> t(n);
  for (int32_t& id : t) id = dist(rng);
  return t;
}

// A session of 256 tokens with the test's KV type.
SessionOptions TestSessionOptions(int n_threads) {
  SessionOptions options;
  options.max_context = 256;
  options.n_threads = n_threads;
  options.kv_type = kKvType;
  return options;
}

// Logits of the last token of `tokens`, evaluated alone in a fresh session in one batch.
std::vector<float> Reference(const Model& model, const std::vector<int32_t>& tokens) {
  const SessionOptions options = TestSessionOptions(1);
  Gemma4Session session(model, options);
  std::vector<float> logits;
  session.Eval(tokens.data(), static_cast<int64_t>(tokens.size()), false, &logits);
  return logits;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

// Every kernel computes a token's result the same way whatever else is in the pass, and
// attention visits keys in position order whatever their source: the logits must be equal to
// the last bit, not merely close.
constexpr double kTolerance = 0.0;

class BatchDecodeTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { model_ = Model::Load(kModels + "/" + GetParam()); }
  std::unique_ptr<Model> model_;
};

TEST_P(BatchDecodeTest, SequencesInOnePassMatchEachAlone) {
  const ModelConfig& config = model_->config();
  Gemma4Decoder decoder(*model_, 2);
  // Three sequences of different lengths (past the sliding window), prefilled together in
  // chunks of different sizes, then decoded together token by token.
  const std::vector<int> lengths = {23, 9, 31};
  std::vector<std::vector<int32_t>> seqs;
  std::vector<std::unique_ptr<KvCache>> caches;
  for (size_t s = 0; s < lengths.size(); ++s) {
    seqs.push_back(RandomTokens(lengths[s] + 6, config.vocab_size, 100 + s));
    caches.push_back(std::make_unique<KvCache>(config, 256, kKvType));
  }
  std::vector<std::vector<float>> logits(lengths.size());
  const std::vector<int> chunk = {7, 9, 13};
  for (bool more = true; more;) {
    more = false;
    std::vector<SequenceStep> steps;
    for (size_t s = 0; s < seqs.size(); ++s) {
      const int64_t done = caches[s]->n_tokens();
      if (done >= lengths[s]) continue;
      const int64_t n = std::min<int64_t>(chunk[s], lengths[s] - done);
      steps.push_back({caches[s].get(), seqs[s].data() + done, n, done + n == lengths[s] ? &logits[s] : nullptr});
      more = true;
    }
    if (!steps.empty()) decoder.Forward(steps);
  }
  for (size_t s = 0; s < seqs.size(); ++s) {
    const std::vector<int32_t> prefix(seqs[s].begin(), seqs[s].begin() + lengths[s]);
    EXPECT_LE(MaxAbsDiff(logits[s], Reference(*model_, prefix)), kTolerance) << "sequence " << s << " after prefill";
  }
  for (int step = 0; step < 6; ++step) {
    std::vector<SequenceStep> steps;
    for (size_t s = 0; s < seqs.size(); ++s) {
      steps.push_back({caches[s].get(), seqs[s].data() + lengths[s] + step, 1, &logits[s]});
    }
    decoder.Forward(steps);
    for (size_t s = 0; s < seqs.size(); ++s) {
      const std::vector<int32_t> prefix(seqs[s].begin(), seqs[s].begin() + lengths[s] + step + 1);
      EXPECT_LE(MaxAbsDiff(logits[s], Reference(*model_, prefix)), kTolerance) << "sequence " << s << " step " << step;
    }
  }
}

TEST_P(BatchDecodeTest, CheckpointRewindsPastTheSlidingWindow) {
  const ModelConfig& config = model_->config();
  const SessionOptions options = TestSessionOptions(2);
  Gemma4Session session(*model_, options);
  const std::vector<int32_t> shared = RandomTokens(20, config.vocab_size, 7);
  const std::vector<int32_t> first_tail = RandomTokens(30, config.vocab_size, 8);
  const std::vector<int32_t> second_tail = RandomTokens(5, config.vocab_size, 9);
  session.Eval(shared.data(), 20, false, nullptr);
  const KvCache::Checkpoint checkpoint = session.cache().MakeCheckpoint();
  session.Eval(first_tail.data(), 30, false, nullptr);
  // 30 tokens later every ring has been overwritten: plain truncation must refuse.
  bool has_ring = false;
  for (const LayerSpec& spec : config.layers) has_ring |= spec.owns_kv && spec.window > 0 && spec.window < 50;
  EXPECT_EQ(session.cache().CanTruncateTo(20), !has_ring);
  session.cache().Restore(checkpoint);
  EXPECT_EQ(session.n_past(), 20);
  std::vector<float> logits;
  session.Eval(second_tail.data(), 5, false, &logits);
  std::vector<int32_t> expected = shared;
  expected.insert(expected.end(), second_tail.begin(), second_tail.end());
  EXPECT_LE(MaxAbsDiff(logits, Reference(*model_, expected)), kTolerance);
}

TEST_P(BatchDecodeTest, TruncateWithinReach) {
  const ModelConfig& config = model_->config();
  const SessionOptions options = TestSessionOptions(1);
  Gemma4Session session(*model_, options);
  const std::vector<int32_t> tokens = RandomTokens(12, config.vocab_size, 11);
  session.Eval(tokens.data(), 12, false, nullptr);
  ASSERT_TRUE(session.cache().CanTruncateTo(12));
  EXPECT_FALSE(session.cache().CanTruncateTo(13));
  // Full-attention-only models can always rewind; rings only to where the window survives.
  int min_window = 0;
  for (const LayerSpec& spec : config.layers) {
    if (spec.owns_kv && spec.window > 0) min_window = min_window == 0 ? spec.window : std::min(min_window, spec.window);
  }
  const int64_t target = 12 - 1;
  if (min_window == 0 || 12 <= min_window) {
    ASSERT_TRUE(session.cache().CanTruncateTo(target));
  } else {
    ASSERT_FALSE(session.cache().CanTruncateTo(target));
    return;
  }
  session.cache().TruncateTo(target);
  const std::vector<int32_t> other = RandomTokens(1, config.vocab_size, 12);
  std::vector<float> logits;
  session.Eval(other.data(), 1, false, &logits);
  std::vector<int32_t> expected(tokens.begin(), tokens.begin() + target);
  expected.push_back(other[0]);
  EXPECT_LE(MaxAbsDiff(logits, Reference(*model_, expected)), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(Presets, BatchDecodeTest,
                         ::testing::Values("tiny-all.f32.gguf", "tiny-e2b.q8_0.gguf", "tiny-dense.q4_0.gguf", "tiny-all.bf16.gguf",
                                           "tiny-moe.f32.gguf"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace g4
