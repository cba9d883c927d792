// ModelConfig tests: KV-sharing sources, RoPE frequency tables, Hugging Face config.json parsing
// (official shapes, nesting, per_layer_config, errors) and GGUF metadata of a tiny model.
#include "model/model_config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "model/gguf.h"
#include "model/weights.h"

namespace g4 {
namespace {

using json = nlohmann::json;
constexpr AttentionKind kS = AttentionKind::kSliding;
constexpr AttentionKind kF = AttentionKind::kFull;

// Kinds with a full layer wherever i % period == period - 1.
std::vector<AttentionKind> Periodic(int n_layers, int period) {
  std::vector<AttentionKind> kinds(n_layers, kS);
  for (int i = 0; i < n_layers; ++i) {
    if (i % period == period - 1) kinds[i] = kF;
  }
  return kinds;
}

// --- KvSourceLayer ---------------------------------------------------------------------------

TEST(KvSourceLayerTest, E2BLayout) {
  const std::vector<AttentionKind> kinds = Periodic(35, 5);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(KvSourceLayer(kinds, i, 15), i) << "layer " << i;
  for (int i = 15; i < 35; ++i) {
    EXPECT_EQ(KvSourceLayer(kinds, i, 15), kinds[i] == kF ? 14 : 13) << "layer " << i;
  }
}

TEST(KvSourceLayerTest, E4BLayout) {
  const std::vector<AttentionKind> kinds = Periodic(42, 6);
  for (int i = 0; i < 24; ++i) EXPECT_EQ(KvSourceLayer(kinds, i, 24), i) << "layer " << i;
  for (int i = 24; i < 42; ++i) {
    EXPECT_EQ(KvSourceLayer(kinds, i, 24), kinds[i] == kF ? 23 : 22) << "layer " << i;
  }
}

TEST(KvSourceLayerTest, GeneralRuleWhenLayerBeforeFirstSharedIsSliding) {
  // S S F S | S F, sharing from layer 4: layer F-1 = 3 is sliding, so llama.cpp's shortcut
  // (sliding -> F-2 = 2, full -> F-1 = 3) would pick layers of the wrong kind.
  const std::vector<AttentionKind> kinds = {kS, kS, kF, kS, kS, kF};
  EXPECT_EQ(KvSourceLayer(kinds, 4, 4), 3);
  EXPECT_EQ(KvSourceLayer(kinds, 5, 4), 2);
  // S F S | S S F, sharing from layer 3: F-2 = 1 is full and F-1 = 2 sliding, the reverse of
  // what the shortcut assumes.
  const std::vector<AttentionKind> kinds2 = {kS, kF, kS, kS, kS, kF};
  EXPECT_EQ(KvSourceLayer(kinds2, 3, 3), 2);
  EXPECT_EQ(KvSourceLayer(kinds2, 4, 3), 2);
  EXPECT_EQ(KvSourceLayer(kinds2, 5, 3), 1);
}

TEST(KvSourceLayerTest, NoEarlierLayerOfThatKind) {
  const std::vector<AttentionKind> kinds = {kS, kS, kS, kF, kS};
  EXPECT_EQ(KvSourceLayer(kinds, 3, 3), -1);
  EXPECT_EQ(KvSourceLayer(kinds, 4, 3), 2);
  EXPECT_EQ(KvSourceLayer(kinds, 0, 0), -1);
  EXPECT_EQ(KvSourceLayer(kinds, 4, 5), 4);  // nothing shared
}

// --- RoPE tables -----------------------------------------------------------------------------

TEST(RopeTest, ProportionalRopeRotatesAQuarter) {
  const RopeSpec rope = MakeProportionalRope(64, 1e6, 0.25);
  EXPECT_EQ(rope.n_rot, 64);
  ASSERT_EQ(rope.inv_freq.size(), 32u);
  EXPECT_EQ(rope.rotated_pairs(), 8);
  for (int j = 0; j < 32; ++j) {
    const double want = j < 8 ? std::pow(1e6, -2.0 * j / 64) : 0.0;
    if (j < 8) {
      EXPECT_NEAR(rope.inv_freq[j], want, 1e-7 * want) << "j " << j;
    } else {
      EXPECT_EQ(rope.inv_freq[j], 0.0f) << "j " << j;
    }
  }
  EXPECT_FLOAT_EQ(rope.inv_freq[1], static_cast<float>(std::pow(1e6, -2.0 / 64)));
}

TEST(RopeTest, LlamaCppFreqFactorsMatchProportional) {
  std::vector<float> factors(32, 1e30f);
  for (int j = 0; j < 8; ++j) factors[j] = 1.0f;
  const RopeSpec a = MakeRope(64, 1e6, factors);
  const RopeSpec b = MakeProportionalRope(64, 1e6, 0.25);
  EXPECT_EQ(a.n_rot, b.n_rot);
  EXPECT_EQ(a.rotated_pairs(), 8);
  ASSERT_EQ(a.inv_freq.size(), b.inv_freq.size());
  for (size_t j = 0; j < a.inv_freq.size(); ++j) EXPECT_FLOAT_EQ(a.inv_freq[j], b.inv_freq[j]) << j;
}

TEST(RopeTest, FactorsDivideTheFrequency) {
  const RopeSpec rope = MakeRope(8, 1e4, {1.0f, 2.0f, 4.0f, 0.5f});
  for (int j = 0; j < 4; ++j) {
    const double want = std::pow(1e4, -2.0 * j / 8) / std::vector<double>{1, 2, 4, 0.5}[j];
    EXPECT_FLOAT_EQ(rope.inv_freq[j], static_cast<float>(want)) << j;
  }
}

TEST(RopeTest, FullFactorIsStandardRope) {
  const RopeSpec p = MakeProportionalRope(256, 1e4, 1.0);
  const RopeSpec s = MakeRope(256, 1e4, {});
  EXPECT_EQ(p.n_rot, 256);
  EXPECT_EQ(p.rotated_pairs(), 128);
  ASSERT_EQ(p.inv_freq.size(), 128u);
  for (int j = 0; j < 128; ++j) {
    EXPECT_FLOAT_EQ(p.inv_freq[j], static_cast<float>(std::pow(1e4, -2.0 * j / 256))) << j;
    EXPECT_FLOAT_EQ(p.inv_freq[j], s.inv_freq[j]) << j;
  }
}

// --- FromHfConfig ----------------------------------------------------------------------------

json LayerTypes(int n_layers, int period) {
  json types = json::array();
  for (int i = 0; i < n_layers; ++i) {
    types.push_back(i % period == period - 1 ? "full_attention" : "sliding_attention");
  }
  return types;
}

json RopeParameters() {
  return {{"full_attention", {{"rope_type", "proportional"}, {"rope_theta", 1e6}, {"partial_rotary_factor", 0.25}}},
          {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 1e4}}}};
}

// The text part of the official E2B config.json (spec §1.1).
json E2BTextConfig() {
  return {{"model_type", "gemma4_text"},
          {"hidden_size", 1536},
          {"num_hidden_layers", 35},
          {"intermediate_size", 6144},
          {"use_double_wide_mlp", true},
          {"num_attention_heads", 8},
          {"num_key_value_heads", 1},
          {"num_global_key_value_heads", nullptr},
          {"head_dim", 256},
          {"global_head_dim", 512},
          {"attention_k_eq_v", false},
          {"hidden_size_per_layer_input", 256},
          {"vocab_size_per_layer_input", 262144},
          {"num_kv_shared_layers", 20},
          {"sliding_window", 512},
          {"max_position_embeddings", 131072},
          {"final_logit_softcapping", 30.0},
          {"rms_norm_eps", 1e-6},
          {"vocab_size", 262144},
          {"enable_moe_block", false},
          {"layer_types", LayerTypes(35, 5)},
          {"rope_parameters", RopeParameters()}};
}

json A4BTextConfig() {
  return {{"model_type", "gemma4_text"},
          {"hidden_size", 2816},
          {"num_hidden_layers", 30},
          {"intermediate_size", 2112},
          {"num_attention_heads", 16},
          {"num_key_value_heads", 8},
          {"num_global_key_value_heads", 2},
          {"head_dim", 256},
          {"global_head_dim", 512},
          {"attention_k_eq_v", true},
          {"hidden_size_per_layer_input", 0},
          {"num_kv_shared_layers", 0},
          {"sliding_window", 1024},
          {"max_position_embeddings", 262144},
          {"final_logit_softcapping", 30.0},
          {"vocab_size", 262144},
          {"enable_moe_block", true},
          {"num_experts", 128},
          {"top_k_experts", 8},
          {"moe_intermediate_size", 704},
          {"layer_types", LayerTypes(30, 6)},
          {"rope_parameters", RopeParameters()}};
}

json Nested(const json& text) {
  return {{"architectures", {"Gemma4ForConditionalGeneration"}}, {"model_type", "gemma4"}, {"text_config", text}};
}

void ExpectSameConfig(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.variant, b.variant);
  EXPECT_EQ(a.n_layers, b.n_layers);
  EXPECT_EQ(a.d_model, b.d_model);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.ple_dim, b.ple_dim);
  EXPECT_EQ(a.first_kv_shared_layer, b.first_kv_shared_layer);
  EXPECT_EQ(a.n_experts, b.n_experts);
  EXPECT_EQ(a.final_softcap, b.final_softcap);
  EXPECT_EQ(a.rope_full.inv_freq, b.rope_full.inv_freq);
  EXPECT_EQ(a.rope_sliding.inv_freq, b.rope_sliding.inv_freq);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerSpec& x = a.layers[i];
    const LayerSpec& y = b.layers[i];
    EXPECT_TRUE(x.kind == y.kind && x.n_heads == y.n_heads && x.n_kv_heads == y.n_kv_heads &&
                x.head_dim == y.head_dim && x.window == y.window && x.keys_as_values == y.keys_as_values &&
                x.owns_kv == y.owns_kv && x.kv_source == y.kv_source && x.ff_dim == y.ff_dim &&
                x.has_moe == y.has_moe)
        << "layer " << i;
  }
}

TEST(HfConfigTest, E2B) {
  const ModelConfig c = ModelConfig::FromHfConfig(Nested(E2BTextConfig()), "config.json");
  EXPECT_EQ(c.variant, "E2B");
  EXPECT_EQ(c.n_layers, 35);
  EXPECT_EQ(c.d_model, 1536);
  EXPECT_EQ(c.vocab_size, 262144);
  EXPECT_EQ(c.ple_dim, 256);
  EXPECT_EQ(c.first_kv_shared_layer, 15);
  EXPECT_EQ(c.sliding_window, 512);
  EXPECT_FLOAT_EQ(c.final_softcap, 30.0f);
  EXPECT_EQ(c.n_experts, 0);
  EXPECT_EQ(c.n_kv_owning_layers(), 15);
  ASSERT_EQ(c.layers.size(), 35u);
  for (int i = 0; i < 35; ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    const LayerSpec& l = c.layers[i];
    const bool full = i % 5 == 4;
    EXPECT_EQ(l.kind, full ? kF : kS);
    EXPECT_EQ(l.window, full ? 0 : 512);
    EXPECT_EQ(l.head_dim, full ? 512 : 256);
    EXPECT_EQ(l.n_heads, 8);
    EXPECT_EQ(l.n_kv_heads, 1);
    EXPECT_FALSE(l.keys_as_values);
    EXPECT_FALSE(l.has_moe);
    EXPECT_EQ(l.owns_kv, i < 15);
    EXPECT_EQ(l.kv_source, i < 15 ? i : (full ? 14 : 13));
    EXPECT_EQ(l.ff_dim, i < 15 ? 6144 : 12288);
    EXPECT_EQ(c.RopeOf(l).n_rot, l.head_dim);
    EXPECT_EQ(c.RopeOf(l).rotated_pairs(), full ? 64 : 128);
  }
  EXPECT_FLOAT_EQ(c.rope_full.inv_freq[63], static_cast<float>(std::pow(1e6, -126.0 / 512)));
  EXPECT_FLOAT_EQ(c.rope_sliding.inv_freq[127], static_cast<float>(std::pow(1e4, -254.0 / 256)));
}

TEST(HfConfigTest, MoE26BA4B) {
  const ModelConfig c = ModelConfig::FromHfConfig(Nested(A4BTextConfig()), "config.json");
  EXPECT_EQ(c.variant, "26B-A4B");
  EXPECT_EQ(c.n_experts, 128);
  EXPECT_EQ(c.n_experts_used, 8);
  EXPECT_EQ(c.expert_ff_dim, 704);
  EXPECT_EQ(c.ple_dim, 0);
  EXPECT_EQ(c.first_kv_shared_layer, 30);
  EXPECT_EQ(c.n_kv_owning_layers(), 30);
  for (int i = 0; i < 30; ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    const LayerSpec& l = c.layers[i];
    const bool full = i % 6 == 5;
    EXPECT_EQ(l.kind, full ? kF : kS);
    EXPECT_EQ(l.window, full ? 0 : 1024);
    EXPECT_EQ(l.n_heads, 16);
    EXPECT_EQ(l.n_kv_heads, full ? 2 : 8);
    EXPECT_EQ(l.head_dim, full ? 512 : 256);
    EXPECT_EQ(l.keys_as_values, full);
    EXPECT_TRUE(l.owns_kv);
    EXPECT_EQ(l.kv_source, i);
    EXPECT_EQ(l.ff_dim, 2112);
    EXPECT_TRUE(l.has_moe);
  }
}

TEST(HfConfigTest, NestedAndFlatAgree) {
  for (const json& text : {E2BTextConfig(), A4BTextConfig()}) {
    const ModelConfig nested = ModelConfig::FromHfConfig(Nested(text), "nested.json");
    json flat = text;
    flat["architectures"] = {"Gemma4ForCausalLM"};
    const ModelConfig plain = ModelConfig::FromHfConfig(flat, "flat.json");
    ExpectSameConfig(nested, plain);
  }
}

TEST(HfConfigTest, PerLayerConfigOverrides) {
  json text = E2BTextConfig();
  json plc = json::array();
  for (int i = 0; i < 35; ++i) plc.push_back(json::object());
  // Layers 0 and 1 (owners, not sources of a shared layer) get other KV head counts; layer 2
  // restates its head dim and widens its MLP.
  plc[0] = {{"num_key_value_heads", 2}};
  plc[1] = {{"num_key_value_heads", 4}, {"head_dim", 256}};
  plc[2] = {{"head_dim", 256}, {"intermediate_size", 1000}};
  text["per_layer_config"] = plc;
  const ModelConfig c = ModelConfig::FromHfConfig(text, "config.json");
  EXPECT_EQ(c.layers[0].n_kv_heads, 2);
  EXPECT_EQ(c.layers[1].n_kv_heads, 4);
  EXPECT_EQ(c.layers[2].n_kv_heads, 1);
  EXPECT_EQ(c.layers[2].ff_dim, 1000);
  EXPECT_EQ(c.layers[3].ff_dim, 6144);
  EXPECT_EQ(c.layers[13].n_kv_heads, 1);
  EXPECT_EQ(c.layers[0].head_dim, 256);

  // Layer 13 is the source of the shared sliding layers: giving it another shape is an error.
  text["per_layer_config"][13] = {{"num_key_value_heads", 2}};
  EXPECT_THROW(ModelConfig::FromHfConfig(text, "config.json"), Error);
}

// transformers >= 5.15 layout: no global_head_dim / num_global_key_value_heads; each full layer's
// per_layer_config entry carries head_dim 512 (spec §5). The full-layer RoPE must then still be
// proportional over the 512-wide head: 64 rotated pairs with exponent denominator 512.
TEST(HfConfigTest, PerLayerConfigGlobalHeadDimDrivesFullRope) {
  json text = A4BTextConfig();
  text.erase("global_head_dim");
  text.erase("num_global_key_value_heads");
  json plc = json::array();
  for (int i = 0; i < 30; ++i) {
    plc.push_back(i % 6 == 5 ? json{{"head_dim", 512}, {"num_key_value_heads", 2}} : json::object());
  }
  text["per_layer_config"] = plc;
  const ModelConfig c = ModelConfig::FromHfConfig(Nested(text), "config.json");
  const ModelConfig ref = ModelConfig::FromHfConfig(Nested(A4BTextConfig()), "config.json");
  EXPECT_EQ(c.layers[5].head_dim, 512);
  EXPECT_EQ(c.layers[5].n_kv_heads, 2);
  EXPECT_EQ(c.layers[4].head_dim, 256);
  EXPECT_EQ(c.rope_full.n_rot, 512);
  EXPECT_EQ(c.rope_full.rotated_pairs(), 64);
  EXPECT_EQ(c.rope_full.inv_freq, ref.rope_full.inv_freq);
}

// Expects FromHfConfig(config) to throw g4::Error whose message contains every `needles` entry.
void ExpectHfError(const json& config, const std::vector<std::string>& needles) {
  try {
    ModelConfig::FromHfConfig(config, "cfg.json");
    ADD_FAILURE() << "no error for " << config.dump().substr(0, 200);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cfg.json"), std::string::npos) << msg;
    for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
}

TEST(HfConfigTest, Errors) {
  json c = E2BTextConfig();
  c.erase("hidden_size");
  ExpectHfError(Nested(c), {"hidden_size", "missing"});

  c = E2BTextConfig();
  c["num_hidden_layers"] = "35";
  ExpectHfError(Nested(c), {"num_hidden_layers"});

  c = E2BTextConfig();
  c["layer_types"] = LayerTypes(34, 5);
  ExpectHfError(Nested(c), {"layer_types"});

  c = E2BTextConfig();
  c["layer_types"][7] = "chunked_attention";
  ExpectHfError(Nested(c), {"layer_types[7]", "chunked_attention"});

  c = E2BTextConfig();
  c["num_kv_shared_layers"] = 36;
  ExpectHfError(Nested(c), {"num_kv_shared_layers"});

  c = E2BTextConfig();
  c["num_attention_heads"] = 8;
  c["num_key_value_heads"] = 3;
  ExpectHfError(Nested(c), {"num_attention_heads", "KV heads"});

  c = E2BTextConfig();
  c["model_type"] = "llama";
  ExpectHfError(Nested(c), {"model_type", "llama"});
  ExpectHfError(c, {"model_type", "llama"});

  ExpectHfError(json::array(), {});
}

// --- FromGguf ---------------------------------------------------------------------------------

TEST(GgufConfigTest, TinyAll) {
  const std::string path = std::string(G4_TEST_DATA_DIR) + "/models/tiny-all.q4_0.gguf";
  std::unique_ptr<GgufFile> gguf = GgufFile::Open(path);
  const TensorView* freqs_tensor = gguf->FindTensor("rope_freqs.weight");
  ASSERT_NE(freqs_tensor, nullptr);
  const std::vector<float> freqs = TensorToFloats(*freqs_tensor);
  ASSERT_EQ(freqs.size(), 32u);
  const ModelConfig c = ModelConfig::FromGguf(*gguf, freqs);

  EXPECT_EQ(c.variant, "custom");
  EXPECT_EQ(c.n_layers, 10);
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.ple_dim, 16);
  EXPECT_FLOAT_EQ(c.final_softcap, 10.0f);
  EXPECT_EQ(c.n_experts, 4);
  EXPECT_EQ(c.n_experts_used, 2);
  EXPECT_EQ(c.expert_ff_dim, 32);
  EXPECT_EQ(c.sliding_window, 8);
  EXPECT_EQ(c.first_kv_shared_layer, 5);
  EXPECT_EQ(c.rope_full.n_rot, 64);
  EXPECT_EQ(c.rope_full.rotated_pairs(), 8);
  EXPECT_EQ(c.rope_sliding.n_rot, 32);
  EXPECT_EQ(c.rope_sliding.rotated_pairs(), 16);
  const RopeSpec want = MakeProportionalRope(64, 1e6, 0.25);
  for (int j = 0; j < 32; ++j) EXPECT_FLOAT_EQ(c.rope_full.inv_freq[j], want.inv_freq[j]) << j;

  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    const LayerSpec& l = c.layers[i];
    const bool full = i % 5 == 4;
    EXPECT_EQ(l.kind, full ? kF : kS);
    EXPECT_EQ(l.window, full ? 0 : 8);
    EXPECT_EQ(l.head_dim, full ? 64 : 32);
    EXPECT_EQ(l.n_kv_heads, full ? 1 : 2);
    EXPECT_EQ(l.n_heads, 2);
    EXPECT_EQ(l.ff_dim, i < 5 ? 128 : 256);
    EXPECT_TRUE(l.has_moe);
    EXPECT_EQ(l.owns_kv, i < 5);
    EXPECT_EQ(l.kv_source, i < 5 ? i : (full ? 4 : 3));
  }
}

TEST(GgufConfigTest, WrongRopeFreqsLengthIsRejected) {
  const std::string path = std::string(G4_TEST_DATA_DIR) + "/models/tiny-all.q4_0.gguf";
  std::unique_ptr<GgufFile> gguf = GgufFile::Open(path);
  try {
    ModelConfig::FromGguf(*gguf, std::vector<float>(31, 1.0f));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rope_freqs"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace g4
