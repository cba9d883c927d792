// Bidirectional attention over image soft-token runs (spec §4.4), checked against a plain
// dense-mask forward pass written here in double precision: every layer of the tiny 31B-style
// model recomputed from its weights, with the mask spelled out as a predicate
//   causal, or both positions in the same image run (sliding layers only), and |q - k| < window
// on sliding layers. The prompt also holds an audio run, not marked, which stays causal. Also:
// tokens before the image do not change, E2B-style models (no bidirectional attention in their
// config) are unchanged, and a prefill split into small passes never cuts a run.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/generator.h"
#include "engine/soft_tokens.h"
#include "model/gemma4_text.h"
#include "model/model.h"
#include "ops/dtype.h"

namespace g4 {
namespace {

const std::string kModels = std::string(G4_TEST_DATA_DIR) + "/models/";

using Mat = std::vector<double>;

std::vector<float> Row(const TensorView& t, int64_t r) {
  std::vector<float> out(t.dim(0));
  DequantizeRow(t.type, t.row(r), out.data(), t.dim(0));
  return out;
}

// y[j] = W[j]·x for a weight stored as rows of length x.size().
Mat Apply(const TensorView& w, const Mat& x) {
  Mat y(w.n_rows());
  for (int64_t j = 0; j < w.n_rows(); ++j) {
    const std::vector<float> row = Row(w, j);
    double s = 0;
    for (size_t i = 0; i < x.size(); ++i) s += row[i] * x[i];
    y[j] = s;
  }
  return y;
}

void Norm(double* x, int64_t n, const float* w, double eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const double scale = 1.0 / std::sqrt(ss / n + eps);
  for (int64_t i = 0; i < n; ++i) x[i] *= scale * (w != nullptr ? w[i] : 1.0);
}

void Rope(double* head, const RopeSpec& rope, int64_t pos) {
  const int half = rope.n_rot / 2;
  for (int j = 0; j < half; ++j) {
    const double angle = static_cast<double>(pos) * rope.inv_freq[j];
    const double a = head[j], b = head[j + half];
    head[j] = a * std::cos(angle) - b * std::sin(angle);
    head[j + half] = b * std::cos(angle) + a * std::sin(angle);
  }
}

double Gelu(double x) { return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

// Logits [n][vocab] of a dense (no experts, no per-layer embeddings) model, in double.
std::vector<double> ReferenceLogits(const Model& model, const std::vector<int32_t>& ids, const SoftTokens& soft,
                                    bool bidirectional) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  const int64_t n = static_cast<int64_t>(ids.size()), d = c.d_model;
  std::vector<int> run(n, -1);
  {
    int64_t row = 0;
    int current = -1, runs = 0;
    for (int64_t t = 0; t < n; ++t) {
      const bool in = ids[t] == kSoftToken && soft.bidirectional[row] != 0;
      if (ids[t] == kSoftToken) ++row;
      current = in ? (current < 0 ? runs++ : current) : -1;
      run[t] = current;
    }
  }
  std::vector<Mat> x(n);
  int64_t row = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (ids[t] == kSoftToken) {
      x[t].assign(soft.row(row), soft.row(row) + d);
      ++row;
    } else {
      const std::vector<float> e = Row(w.token_embd, ids[t]);
      x[t].assign(e.begin(), e.end());
      for (double& v : x[t]) v *= std::sqrt(static_cast<float>(d));
    }
  }
  std::vector<std::vector<Mat>> keys(c.n_layers), values(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerSpec& s = c.layers[l];
    const LayerWeights& lw = w.layers[l];
    const RopeSpec& rope = c.RopeOf(s);
    const int hd = s.head_dim;
    std::vector<Mat> q(n);
    for (int64_t t = 0; t < n; ++t) {
      Mat h = x[t];
      Norm(h.data(), d, lw.attn_norm.data(), c.rms_eps);
      q[t] = Apply(lw.wq, h);
      for (int hh = 0; hh < s.n_heads; ++hh) {
        Norm(&q[t][hh * hd], hd, lw.q_norm.data(), c.rms_eps);
        Rope(&q[t][hh * hd], rope, t);
      }
      if (!s.owns_kv) continue;
      Mat k = Apply(lw.wk, h);
      Mat v = s.keys_as_values ? k : Apply(lw.wv, h);
      for (int kh = 0; kh < s.n_kv_heads; ++kh) {
        Norm(&v[kh * hd], hd, nullptr, c.rms_eps);
        Norm(&k[kh * hd], hd, lw.k_norm.data(), c.rms_eps);
        Rope(&k[kh * hd], rope, t);
      }
      keys[l].push_back(k);
      values[l].push_back(v);
    }
    const std::vector<Mat>& K = keys[s.kv_source];
    const std::vector<Mat>& V = values[s.kv_source];
    const bool sliding = s.kind == AttentionKind::kSliding;
    for (int64_t t = 0; t < n; ++t) {
      Mat attn(static_cast<size_t>(s.n_heads) * hd, 0.0);
      for (int hh = 0; hh < s.n_heads; ++hh) {
        const int kh = hh / (s.n_heads / s.n_kv_heads);
        std::vector<double> score(n, -INFINITY);
        double top = -INFINITY;
        for (int64_t k = 0; k < n; ++k) {
          const bool same_run = bidirectional && sliding && run[t] >= 0 && run[t] == run[k];
          const bool visible = (k <= t || same_run) && (!sliding || s.window == 0 || std::abs(t - k) < s.window);
          if (!visible) continue;
          double dot = 0;
          for (int i = 0; i < hd; ++i) dot += q[t][hh * hd + i] * K[k][kh * hd + i];
          score[k] = dot;
          top = std::max(top, dot);
        }
        double sum = 0;
        for (double& e : score) sum += (e = std::isinf(e) ? 0.0 : std::exp(e - top));
        for (int64_t k = 0; k < n; ++k) {
          for (int i = 0; i < hd; ++i) attn[hh * hd + i] += score[k] / sum * V[k][kh * hd + i];
        }
      }
      Mat a = Apply(lw.wo, attn);
      Norm(a.data(), d, lw.post_attn_norm.data(), c.rms_eps);
      for (int64_t i = 0; i < d; ++i) x[t][i] += a[i];
    }
    for (int64_t t = 0; t < n; ++t) {
      Mat h = x[t];
      Norm(h.data(), d, lw.ffn_norm.data(), c.rms_eps);
      Mat gate = Apply(lw.ffn_gate, h), up = Apply(lw.ffn_up, h);
      for (size_t i = 0; i < gate.size(); ++i) gate[i] = Gelu(gate[i]) * up[i];
      Mat down = Apply(lw.ffn_down, gate);
      Norm(down.data(), d, lw.post_ffw_norm.data(), c.rms_eps);
      for (int64_t i = 0; i < d; ++i) x[t][i] = (x[t][i] + down[i]) * lw.layer_scalar;
    }
  }
  std::vector<double> logits;
  for (int64_t t = 0; t < n; ++t) {
    Norm(x[t].data(), d, w.output_norm.data(), c.rms_eps);
    for (double v : Apply(w.output, x[t])) {
      logits.push_back(c.final_softcap > 0 ? c.final_softcap * std::tanh(v / c.final_softcap) : v);
    }
  }
  return logits;
}

// BOS, text, BOI, `n_image` image rows, EOI, text, audio-begin, `n_audio` audio rows, end, text.
struct Prompt {
  std::vector<int32_t> ids;
  SoftTokens soft;
  int64_t image_begin = 0;
};

Prompt MakePrompt(int64_t width, int64_t n_image, int64_t n_audio, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Prompt p;
  p.soft.width = width;
  p.ids = {2, 17, 300, 45, 9, 510};
  p.image_begin = static_cast<int64_t>(p.ids.size());
  std::vector<float> image(n_image * width), audio(n_audio * width);
  for (float& v : image) v = normal(rng);
  for (float& v : audio) v = normal(rng);
  p.ids.insert(p.ids.end(), n_image, kSoftToken);
  p.soft.Append(image.data(), n_image, 1, /*bidirectional_run=*/true);
  for (int32_t id : {511, 60, 250, 508}) p.ids.push_back(id);
  p.ids.insert(p.ids.end(), n_audio, kSoftToken);
  p.soft.Append(audio.data(), n_audio, 2, /*bidirectional_run=*/false);
  for (int32_t id : {509, 71, 33, 402}) p.ids.push_back(id);
  return p;
}

std::vector<float> DecoderLogits(const Model& model, const Prompt& p, bool mark_runs) {
  KvCache cache(model.config(), static_cast<int>(p.ids.size()), DType::kF32);
  Gemma4Decoder decoder(model, 2);
  std::vector<float> logits;
  const SequenceStep step{&cache, p.ids.data(), static_cast<int64_t>(p.ids.size()), &logits, true,
                          p.soft.rows.data(), mark_runs ? p.soft.bidirectional.data() : nullptr};
  decoder.Forward(std::span<const SequenceStep>(&step, 1));
  return logits;
}

double MaxDiff(const std::vector<float>& a, const std::vector<double>& b, int64_t from, int64_t to, int64_t vocab) {
  double m = 0;
  for (int64_t i = from * vocab; i < to * vocab; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(BidirectionalAttentionTest, ConfigFromMetadata) {
  // GGUF without the key: by the rule of the released configs (no per-layer embeddings).
  EXPECT_TRUE(Model::Load(kModels + "tiny-dense.f32.gguf")->config().vision_bidirectional);
  EXPECT_FALSE(Model::Load(kModels + "tiny-e2b.f32.gguf")->config().vision_bidirectional);
  nlohmann::json config = {{"text_config",
                            {{"model_type", "gemma4_text"}, {"num_hidden_layers", 2}, {"hidden_size", 64},
                             {"vocab_size", 512}, {"num_attention_heads", 2}, {"num_key_value_heads", 1},
                             {"head_dim", 32}, {"intermediate_size", 128}, {"sliding_window", 16},
                             {"layer_types", {"sliding_attention", "full_attention"}}}}};
  EXPECT_FALSE(ModelConfig::FromHfConfig(config, "config.json").vision_bidirectional);
  config["text_config"]["use_bidirectional_attention"] = "vision";
  EXPECT_TRUE(ModelConfig::FromHfConfig(config, "config.json").vision_bidirectional);
  config["text_config"]["use_bidirectional_attention"] = "all";
  EXPECT_THROW(ModelConfig::FromHfConfig(config, "config.json"), Error);
}

// Runs shorter and longer than the sliding window (16): the longer one also exercises the
// window on the forward side.
TEST(BidirectionalAttentionTest, MatchesDenseMaskReference) {
  std::unique_ptr<Model> model = Model::Load(kModels + "tiny-dense.f32.gguf");
  const ModelConfig& c = model->config();
  ASSERT_TRUE(c.vision_bidirectional);
  ASSERT_EQ(c.ple_dim, 0);
  for (const LayerSpec& s : c.layers) ASSERT_FALSE(s.has_moe);
  const int64_t vocab = c.vocab_size;
  for (int64_t n_image : {9, 23}) {
    const Prompt p = MakePrompt(c.d_model, n_image, 6, 7 + static_cast<uint32_t>(n_image));
    const int64_t n = static_cast<int64_t>(p.ids.size());
    const std::vector<float> bidir = DecoderLogits(*model, p, true);
    const std::vector<float> causal = DecoderLogits(*model, p, false);
    const std::vector<double> ref_bidir = ReferenceLogits(*model, p.ids, p.soft, true);
    const std::vector<double> ref_causal = ReferenceLogits(*model, p.ids, p.soft, false);
    const double diff_bidir = MaxDiff(bidir, ref_bidir, 0, n, vocab);
    EXPECT_LE(diff_bidir, 2e-3) << n_image;
    EXPECT_LE(MaxDiff(causal, ref_causal, 0, n, vocab), 2e-3) << n_image;
    RecordProperty("max_abs_diff_run_" + std::to_string(n_image), std::to_string(diff_bidir));
    // The reference's two masks differ at the image's positions (so this test can fail) ...
    double moved = 0;
    for (int64_t i = p.image_begin * vocab; i < (p.image_begin + n_image) * vocab; ++i) {
      moved = std::max(moved, std::fabs(ref_bidir[i] - ref_causal[i]));
    }
    EXPECT_GT(moved, 1e-2) << n_image;
    // ... and the tokens before the image are exactly what causal attention gives.
    for (int64_t i = 0; i < p.image_begin * vocab; ++i) ASSERT_EQ(bidir[i], causal[i]) << i;
  }
}

TEST(BidirectionalAttentionTest, E2bStyleModelStaysCausal) {
  std::unique_ptr<Model> model = Model::Load(kModels + "tiny-e2b.f32.gguf");
  ASSERT_FALSE(model->config().vision_bidirectional);
  const Prompt p = MakePrompt(model->config().d_model, 12, 5, 3);
  EXPECT_EQ(DecoderLogits(*model, p, true), DecoderLogits(*model, p, false));
}

TEST(SoftLayoutTest, PrefillPiecesNeverSplitARun) {
  std::vector<int32_t> ids = {2, 5, kSoftToken, kSoftToken, kSoftToken, kSoftToken, 6, kSoftToken, kSoftToken, 7};
  SoftTokens soft;
  soft.width = 1;
  const float rows[6] = {1, 2, 3, 4, 5, 6};
  soft.Append(rows, 4, 1, true);
  soft.Append(rows + 4, 2, 2, false);  // audio: may be split
  const SoftLayout layout(ids, &soft);
  EXPECT_EQ(layout.PieceEnd(0, 4), 2);   // would cut the image run: stop before it
  EXPECT_EQ(layout.PieceEnd(2, 3), 6);   // the run starts the piece: take all of it
  EXPECT_EQ(layout.PieceEnd(0, 6), 6);
  EXPECT_EQ(layout.PieceEnd(6, 8), 8);   // audio rows split freely
  EXPECT_EQ(*layout.RowsFrom(7), 5.0f);
  EXPECT_EQ(layout.RowsFrom(9), nullptr);
  ids.push_back(kSoftToken);
  EXPECT_THROW(SoftLayout(ids, &soft), Error);
}

// A prefill in passes of at most 4 tokens gives exactly the logits of one pass: the image run
// is kept whole (a split run would see fewer keys and differ).
TEST(SoftLayoutTest, GeneratorKeepsRunsWholeAcrossPrefillPieces) {
  std::unique_ptr<Model> model = Model::Load(kModels + "tiny-dense.f32.gguf");
  const Prompt p = MakePrompt(model->config().d_model, 10, 3, 5);
  const std::vector<float> whole = DecoderLogits(*model, p, true);
  const int64_t vocab = model->config().vocab_size;
  KvCache cache(model->config(), static_cast<int>(p.ids.size()), DType::kF32);
  Gemma4Decoder decoder(*model, 2);
  const SoftLayout layout(p.ids, &p.soft);
  std::vector<float> logits;
  for (int64_t i = 0; i < static_cast<int64_t>(p.ids.size());) {
    const int64_t end = layout.PieceEnd(i, std::min<int64_t>(i + 4, p.ids.size()));
    const SequenceStep step{&cache, p.ids.data() + i, end - i, &logits, true, layout.RowsFrom(i),
                            layout.BidirectionalFrom(i)};
    decoder.Forward(std::span<const SequenceStep>(&step, 1));
    for (int64_t t = 0; t < end - i; ++t) {
      for (int64_t v = 0; v < vocab; ++v) ASSERT_EQ(logits[t * vocab + v], whole[(i + t) * vocab + v]) << i + t;
    }
    i = end;
  }
}

}  // namespace
}  // namespace g4
