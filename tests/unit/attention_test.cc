// Streaming group attention against the plain reference, and KV cache types against float32.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "logit_compare.h"
#include "model/gemma4_text.h"
#include "ops/attention.h"

namespace g4 {
namespace {

TEST(GroupAttentionTest, MatchesPlainSoftmaxOverManyBlocks) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t n : {1, 7, 32, 33, 100, 257}) {
    const int group = 3, hd = 16;
    std::vector<float> q(group * hd), k(n * hd), v(n * hd);
    for (float& x : q) x = 2.0f * normal(rng);  // peaked scores: the running maximum matters
    for (float& x : k) x = normal(rng);
    for (float& x : v) x = normal(rng);
    std::vector<const float*> k_rows(n), v_rows(n);
    for (int64_t j = 0; j < n; ++j) {
      k_rows[j] = &k[j * hd];
      v_rows[j] = &v[j * hd];
    }
    GroupAttention attention(q.data(), group, hd);
    for (int64_t p0 = 0; p0 < n; p0 += kAttentionBlock) {
      attention.AddBlock(&k_rows[p0], &v_rows[p0], std::min<int64_t>(kAttentionBlock, n - p0));
    }
    std::vector<float> fast(group * hd), reference(group * hd);
    attention.Finish(fast.data());
    GroupAttentionReference(q.data(), group, hd, k_rows.data(), v_rows.data(), n, reference.data());
    for (size_t i = 0; i < fast.size(); ++i) EXPECT_NEAR(fast[i], reference[i], 2e-5) << "n " << n << " i " << i;
  }
}

// Smaller KV types stay close to float32 entries on every tiny preset: mean KL per position
// below bounds set by each type's rounding. f16 keeps 11 significant bits and must be far
// below any weight quantization (measured: 1e-7..3e-7). bf16 (8 bits) and q8_0 (8 bits per
// block of 32) are lossy options: measured up to 2.7e-3 and 1.2e-2, the latter on the MoE
// preset where a rounded key flips the router's expert choice. They must stay within twice the
// worst mean KL llama.cpp's quantized matmuls reach on these presets (1.1e-2, tiny-all q4_0).
TEST(KvTypeTest, StoredTypesStayCloseToFloat32) {
  const std::string models = std::string(G4_TEST_DATA_DIR) + "/models/";
  for (const char* preset : {"tiny-all", "tiny-e2b", "tiny-moe", "tiny-dense"}) {
    std::unique_ptr<Model> model = Model::Load(models + preset + ".f32.gguf");
    std::mt19937 rng(3);
    std::vector<int32_t> tokens(40);
    for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % model->config().vocab_size);
    auto run = [&](DType type) {
      SessionOptions options;
      options.max_context = 64;
      options.n_threads = 2;
      options.kv_type = type;
      Gemma4Session session(*model, options);
      std::vector<float> logits, all;
      // Chunks, so later positions read earlier ones from the cache.
      for (size_t i = 0; i < tokens.size(); i += 9) {
        const int64_t n = std::min<int64_t>(9, static_cast<int64_t>(tokens.size() - i));
        session.Eval(tokens.data() + i, n, true, &logits);
        all.insert(all.end(), logits.begin(), logits.end());
      }
      return all;
    };
    const std::vector<float> exact = run(DType::kF32);
    const int64_t vocab = model->config().vocab_size;
    const struct {
      DType type;
      double bound;
    } cases[] = {{DType::kF16, 1e-6}, {DType::kBF16, 2.2e-2}, {DType::kQ8_0, 2.2e-2}};
    for (const auto& c : cases) {
      const std::vector<float> rounded = run(c.type);
      const double kl = MeanKl(exact.data(), rounded.data(), exact.size() / vocab, static_cast<int>(vocab));
      std::printf("%s kv %s: mean KL %.3g\n", preset, std::string(DTypeName(c.type)).c_str(), kl);
      EXPECT_LT(kl, c.bound) << preset << " " << DTypeName(c.type);
      EXPECT_GT(kl, 0.0) << preset << " " << DTypeName(c.type) << ": rounding had no effect at all";
    }
  }
}

TEST(KvTypeTest, Q8NeedsHeadsInBlocksOf32) {
  const std::string models = std::string(G4_TEST_DATA_DIR) + "/models/";
  std::unique_ptr<Model> model = Model::Load(models + "tiny-dense.f32.gguf");
  bool all_multiple = true;
  for (const LayerSpec& l : model->config().layers) all_multiple &= l.head_dim % 32 == 0;
  if (all_multiple) {
    EXPECT_NO_THROW(KvCache(model->config(), 16, DType::kQ8_0));
  } else {
    EXPECT_THROW(KvCache(model->config(), 16, DType::kQ8_0), Error);
  }
  EXPECT_THROW(ParseKvType("f8"), Error);
  EXPECT_EQ(ParseKvType("q8_0"), DType::kQ8_0);
}

}  // namespace
}  // namespace g4
