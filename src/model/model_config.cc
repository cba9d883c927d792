#include "model/model_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "model/gguf.h"

namespace g4 {

const char* AttentionKindName(AttentionKind kind) {
  return kind == AttentionKind::kSliding ? "sliding" : "full";
}

int RopeSpec::rotated_pairs() const {
  int n = 0;
  for (float f : inv_freq) n += f != 0.0f;
  return n;
}

int KvSourceLayer(const std::vector<AttentionKind>& kinds, int layer, int first_shared) {
  if (layer < first_shared) return layer;
  for (int j = first_shared - 1; j >= 0; --j) {
    if (kinds[j] == kinds[layer]) return j;
  }
  return -1;
}

RopeSpec MakeRope(int n_rot, double base, const std::vector<float>& factors) {
  RopeSpec rope;
  rope.n_rot = n_rot;
  rope.inv_freq.resize(n_rot / 2);
  for (int j = 0; j < n_rot / 2; ++j) {
    double f = std::pow(base, -2.0 * j / n_rot);
    if (!factors.empty()) f /= factors[j];
    // llama.cpp marks fixed lanes with a factor of 1e30; anything that small never turns.
    rope.inv_freq[j] = f < 1e-20 ? 0.0f : static_cast<float>(f);
  }
  return rope;
}

RopeSpec MakeProportionalRope(int head_dim, double base, double partial_rotary_factor) {
  RopeSpec rope;
  rope.n_rot = head_dim;
  rope.inv_freq.assign(head_dim / 2, 0.0f);
  const int rotated = static_cast<int>(partial_rotary_factor * head_dim / 2);
  for (int j = 0; j < rotated && j < head_dim / 2; ++j) {
    rope.inv_freq[j] = static_cast<float>(std::pow(base, -2.0 * j / head_dim));
  }
  return rope;
}

namespace {

// A per-layer value that GGUF stores either as a scalar or as an array of n_layers.
std::vector<int64_t> PerLayerInts(const GgufFile& f, const std::string& key, int n_layers) {
  const GgufValue* v = f.Find(key);
  if (v == nullptr) Fail(f.path(), ": metadata key '", key, "' is missing");
  if (!v->is_array()) return std::vector<int64_t>(n_layers, f.GetInt(key));
  std::vector<int64_t> values = f.GetIntArray(key);
  if (static_cast<int>(values.size()) != n_layers) {
    Fail(f.path(), ": metadata key '", key, "' has ", values.size(), " entries, expected one per layer (",
         n_layers, ")");
  }
  return values;
}

int PositiveInt(int64_t v, const std::string& where, const std::string& what) {
  if (v <= 0 || v > (1 << 30)) Fail(where, ": ", what, " = ", v, " is out of range");
  return static_cast<int>(v);
}

std::string VariantName(int n_layers, int d_model) {
  if (n_layers == 35 && d_model == 1536) return "E2B";
  if (n_layers == 42 && d_model == 2560) return "E4B";
  if (n_layers == 30 && d_model == 2816) return "26B-A4B";
  if (n_layers == 60 && d_model == 5376) return "31B";
  return "custom";
}

}  // namespace

ModelConfig ModelConfig::FromGguf(const GgufFile& f, const std::vector<float>& rope_freqs) {
  const std::string arch = f.GetString("general.architecture");
  if (arch != "gemma4") {
    Fail(f.path(), ": general.architecture is '", arch, "', g4 runs only 'gemma4' models");
  }
  const std::string p = "gemma4.";
  ModelConfig c;
  const std::string& where = f.path();
  c.n_layers = PositiveInt(f.GetInt(p + "block_count"), where, p + "block_count");
  c.d_model = PositiveInt(f.GetInt(p + "embedding_length"), where, p + "embedding_length");
  c.context_length = static_cast<int>(f.GetUintOr(p + "context_length", 8192));
  c.rms_eps = static_cast<float>(f.GetFloatOr(p + "attention.layer_norm_rms_epsilon", 1e-6));
  c.final_softcap = static_cast<float>(f.GetFloatOr(p + "final_logit_softcapping", 0.0));
  c.ple_dim = static_cast<int>(f.GetUintOr(p + "embedding_length_per_layer_input", 0));
  // llama.cpp's converter (conversion/gemma.py, Gemma4Model) writes no key for
  // use_bidirectional_attention. Every released config says "vision" exactly for the models
  // without per-layer embeddings (26B-A4B, 31B) and nothing for those with them (E2B, E4B), so
  // a GGUF without our own key is read by that rule; the key, when present, decides.
  c.vision_bidirectional = f.GetBoolOr(p + "vision_bidirectional_attention", c.ple_dim == 0);
  c.n_experts = static_cast<int>(f.GetUintOr(p + "expert_count", 0));
  c.n_experts_used = static_cast<int>(f.GetUintOr(p + "expert_used_count", 0));
  c.expert_ff_dim = static_cast<int>(f.GetUintOr(p + "expert_feed_forward_length", 0));
  c.sliding_window = static_cast<int>(f.GetUintOr(p + "attention.sliding_window", 0));
  const int shared = static_cast<int>(f.GetUintOr(p + "attention.shared_kv_layers", 0));
  if (shared < 0 || shared > c.n_layers) {
    Fail(where, ": ", p, "attention.shared_kv_layers = ", shared, " exceeds block_count ", c.n_layers);
  }
  c.first_kv_shared_layer = c.n_layers - shared;
  c.bos_token_id = static_cast<int>(f.GetUintOr("tokenizer.ggml.bos_token_id", 2));
  c.eos_token_id = static_cast<int>(f.GetUintOr("tokenizer.ggml.eos_token_id", 1));

  const int hd_full = PositiveInt(f.GetInt(p + "attention.key_length"), where, p + "attention.key_length");
  const int hd_swa = static_cast<int>(f.GetUintOr(p + "attention.key_length_swa", hd_full));
  if (f.GetUintOr(p + "attention.value_length", hd_full) != static_cast<uint64_t>(hd_full) ||
      f.GetUintOr(p + "attention.value_length_swa", hd_swa) != static_cast<uint64_t>(hd_swa)) {
    Fail(where, ": attention value_length differs from key_length; Gemma 4 needs them equal");
  }

  const std::vector<int64_t> heads = PerLayerInts(f, p + "attention.head_count", c.n_layers);
  const std::vector<int64_t> kv_heads = PerLayerInts(f, p + "attention.head_count_kv", c.n_layers);
  const std::vector<int64_t> ff = PerLayerInts(f, p + "feed_forward_length", c.n_layers);
  std::vector<int64_t> swa_pattern(c.n_layers, 0);
  if (f.Find(p + "attention.sliding_window_pattern") != nullptr) {
    swa_pattern = f.GetIntArray(p + "attention.sliding_window_pattern");
    if (static_cast<int>(swa_pattern.size()) != c.n_layers) {
      Fail(where, ": ", p, "attention.sliding_window_pattern has ", swa_pattern.size(),
           " entries, expected ", c.n_layers);
    }
  }

  const int n_rot_full = static_cast<int>(f.GetUintOr(p + "rope.dimension_count", hd_full));
  const int n_rot_swa = static_cast<int>(f.GetUintOr(p + "rope.dimension_count_swa", hd_swa));
  if (!rope_freqs.empty() && static_cast<int>(rope_freqs.size()) != n_rot_full / 2) {
    Fail(where, ": tensor 'rope_freqs.weight' has ", rope_freqs.size(), " entries, expected rope.dimension_count/2 = ",
         n_rot_full / 2);
  }
  c.rope_full = MakeRope(n_rot_full, f.GetFloatOr(p + "rope.freq_base", 1e6), rope_freqs);
  c.rope_sliding = MakeRope(n_rot_swa, f.GetFloatOr(p + "rope.freq_base_swa", 1e4), {});

  c.layers.resize(c.n_layers);
  for (int i = 0; i < c.n_layers; ++i) {
    LayerSpec& l = c.layers[i];
    l.kind = swa_pattern[i] ? AttentionKind::kSliding : AttentionKind::kFull;
    l.head_dim = l.kind == AttentionKind::kSliding ? hd_swa : hd_full;
    l.n_heads = PositiveInt(heads[i], where, Concat(p, "attention.head_count[", i, "]"));
    l.n_kv_heads = PositiveInt(kv_heads[i], where, Concat(p, "attention.head_count_kv[", i, "]"));
    l.ff_dim = PositiveInt(ff[i], where, Concat(p, "feed_forward_length[", i, "]"));
    l.has_moe = c.n_experts > 0;
    // keys_as_values is decided by the weights binder: a GGUF layer without attn_v uses K as V.
  }
  c.Finalize(where);
  return c;
}

namespace {

const nlohmann::json* Member(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

int64_t JsonInt(const nlohmann::json& j, const char* key, const std::string& where) {
  const nlohmann::json* v = Member(j, key);
  if (v == nullptr) Fail(where, ": field '", key, "' is missing");
  if (!v->is_number_integer()) Fail(where, ": field '", key, "' must be an integer, got ", v->dump());
  return v->get<int64_t>();
}

int64_t JsonIntOr(const nlohmann::json& j, const char* key, int64_t fallback, const std::string& where) {
  return Member(j, key) == nullptr ? fallback : JsonInt(j, key, where);
}

double JsonNumberOr(const nlohmann::json& j, const char* key, double fallback, const std::string& where) {
  const nlohmann::json* v = Member(j, key);
  if (v == nullptr) return fallback;
  if (!v->is_number()) Fail(where, ": field '", key, "' must be a number, got ", v->dump());
  return v->get<double>();
}

bool JsonBoolOr(const nlohmann::json& j, const char* key, bool fallback, const std::string& where) {
  const nlohmann::json* v = Member(j, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) Fail(where, ": field '", key, "' must be true or false, got ", v->dump());
  return v->get<bool>();
}

// Reads the RoPE base and partial factor of one layer type from any of the config layouts in
// use: rope_parameters per layer type (current), or flat rope_theta / rope_local_base_freq.
void HfRope(const nlohmann::json& tc, const char* type, double default_base, double* base, double* partial,
            const std::string& where) {
  *base = default_base;
  *partial = 1.0;
  if (const nlohmann::json* rp = Member(tc, "rope_parameters")) {
    if (const nlohmann::json* t = Member(*rp, type)) {
      *base = JsonNumberOr(*t, "rope_theta", default_base, where + " rope_parameters." + type);
      *partial = JsonNumberOr(*t, "partial_rotary_factor", 1.0, where + " rope_parameters." + type);
      return;
    }
  }
  if (std::string(type) == "sliding_attention") {
    *base = JsonNumberOr(tc, "rope_local_base_freq", default_base, where);
  } else {
    *base = JsonNumberOr(tc, "rope_theta", default_base, where);
    *partial = JsonNumberOr(tc, "partial_rotary_factor", 0.25, where);
  }
}

}  // namespace

ModelConfig ModelConfig::FromHfConfig(const nlohmann::json& config, const std::string& where) {
  if (!config.is_object()) Fail(where, ": expected a JSON object");
  const nlohmann::json* text = Member(config, "text_config");
  const nlohmann::json& tc = text != nullptr ? *text : config;
  const std::string tc_where = text != nullptr ? where + " text_config" : where;
  if (!tc.is_object()) Fail(tc_where, ": expected a JSON object");
  if (const nlohmann::json* mt = Member(tc, "model_type")) {
    const std::string type = mt->is_string() ? mt->get<std::string>() : mt->dump();
    if (type != "gemma4_text" && type != "gemma4") {
      Fail(tc_where, ": model_type is '", type, "', g4 runs only Gemma 4 ('gemma4_text')");
    }
  }

  ModelConfig c;
  c.n_layers = PositiveInt(JsonInt(tc, "num_hidden_layers", tc_where), tc_where, "num_hidden_layers");
  c.d_model = PositiveInt(JsonInt(tc, "hidden_size", tc_where), tc_where, "hidden_size");
  c.vocab_size = PositiveInt(JsonInt(tc, "vocab_size", tc_where), tc_where, "vocab_size");
  c.context_length = static_cast<int>(JsonIntOr(tc, "max_position_embeddings", 8192, tc_where));
  c.rms_eps = static_cast<float>(JsonNumberOr(tc, "rms_norm_eps", 1e-6, tc_where));
  c.final_softcap = static_cast<float>(JsonNumberOr(tc, "final_logit_softcapping", 0.0, tc_where));
  c.ple_dim = static_cast<int>(JsonIntOr(tc, "hidden_size_per_layer_input", 0, tc_where));
  if (const auto it = tc.find("use_bidirectional_attention"); it != tc.end() && !it->is_null()) {
    if (*it == "vision") {
      c.vision_bidirectional = true;
    } else if (*it != false) {
      Fail(tc_where, ": use_bidirectional_attention is ", it->dump(), "; g4 supports null or \"vision\"");
    }
  }
  c.sliding_window = static_cast<int>(JsonIntOr(tc, "sliding_window", 0, tc_where));
  const int shared = static_cast<int>(JsonIntOr(tc, "num_kv_shared_layers", 0, tc_where));
  if (shared < 0 || shared > c.n_layers) {
    Fail(tc_where, ": num_kv_shared_layers = ", shared, " exceeds num_hidden_layers ", c.n_layers);
  }
  c.first_kv_shared_layer = c.n_layers - shared;
  if (JsonBoolOr(tc, "enable_moe_block", false, tc_where)) {
    c.n_experts = PositiveInt(JsonInt(tc, "num_experts", tc_where), tc_where, "num_experts");
    c.n_experts_used = PositiveInt(JsonInt(tc, "top_k_experts", tc_where), tc_where, "top_k_experts");
    c.expert_ff_dim = PositiveInt(JsonInt(tc, "moe_intermediate_size", tc_where), tc_where, "moe_intermediate_size");
  }
  c.bos_token_id = static_cast<int>(JsonIntOr(tc, "bos_token_id", 2, tc_where));

  const int n_heads = PositiveInt(JsonInt(tc, "num_attention_heads", tc_where), tc_where, "num_attention_heads");
  const int kv_swa = PositiveInt(JsonInt(tc, "num_key_value_heads", tc_where), tc_where, "num_key_value_heads");
  const int kv_full = static_cast<int>(JsonIntOr(tc, "num_global_key_value_heads", kv_swa, tc_where));
  const int hd_swa = PositiveInt(JsonInt(tc, "head_dim", tc_where), tc_where, "head_dim");
  const int hd_full = static_cast<int>(JsonIntOr(tc, "global_head_dim", hd_swa, tc_where));
  const bool k_eq_v = JsonBoolOr(tc, "attention_k_eq_v", false, tc_where);
  const int ff = PositiveInt(JsonInt(tc, "intermediate_size", tc_where), tc_where, "intermediate_size");
  const bool double_wide = JsonBoolOr(tc, "use_double_wide_mlp", false, tc_where);

  std::vector<AttentionKind> kinds(c.n_layers, AttentionKind::kSliding);
  if (const nlohmann::json* types = Member(tc, "layer_types")) {
    if (!types->is_array() || static_cast<int>(types->size()) != c.n_layers) {
      Fail(tc_where, ": layer_types must be an array of ", c.n_layers, " strings");
    }
    for (int i = 0; i < c.n_layers; ++i) {
      const nlohmann::json& t = (*types)[i];
      if (t == "sliding_attention") {
        kinds[i] = AttentionKind::kSliding;
      } else if (t == "full_attention") {
        kinds[i] = AttentionKind::kFull;
      } else {
        Fail(tc_where, ": layer_types[", i, "] is ", t.dump(), ", expected \"sliding_attention\" or \"full_attention\"");
      }
    }
  } else {
    const int period = static_cast<int>(JsonIntOr(tc, "sliding_window_pattern", 0, tc_where));
    if (period <= 0) Fail(tc_where, ": neither layer_types nor sliding_window_pattern is given");
    for (int i = 0; i < c.n_layers; ++i) {
      kinds[i] = (i % period == period - 1) ? AttentionKind::kFull : AttentionKind::kSliding;
    }
  }

  c.layers.resize(c.n_layers);
  for (int i = 0; i < c.n_layers; ++i) {
    LayerSpec& l = c.layers[i];
    l.kind = kinds[i];
    const bool full = l.kind == AttentionKind::kFull;
    l.n_heads = n_heads;
    l.n_kv_heads = full ? kv_full : kv_swa;
    l.head_dim = full ? hd_full : hd_swa;
    l.keys_as_values = full && k_eq_v;
    l.ff_dim = (double_wide && i >= c.first_kv_shared_layer) ? 2 * ff : ff;
    l.has_moe = c.n_experts > 0;
  }
  // transformers >= 5.15 may describe layers individually in per_layer_config.
  if (const nlohmann::json* plc = Member(tc, "per_layer_config")) {
    if (plc->is_array() && static_cast<int>(plc->size()) == c.n_layers) {
      for (int i = 0; i < c.n_layers; ++i) {
        const nlohmann::json& e = (*plc)[i];
        if (!e.is_object()) continue;
        const std::string w = Concat(tc_where, " per_layer_config[", i, "]");
        LayerSpec& l = c.layers[i];
        l.head_dim = static_cast<int>(JsonIntOr(e, "head_dim", l.head_dim, w));
        l.n_kv_heads = static_cast<int>(JsonIntOr(e, "num_key_value_heads", l.n_kv_heads, w));
        l.n_heads = static_cast<int>(JsonIntOr(e, "num_attention_heads", l.n_heads, w));
        l.ff_dim = static_cast<int>(JsonIntOr(e, "intermediate_size", l.ff_dim, w));
      }
    }
  }
  // RoPE tables are per layer kind, so every layer of a kind must share one head size; the
  // proportional RoPE's exponent denominator is that head size.
  int kind_head_dim[2] = {0, 0};
  for (int i = 0; i < c.n_layers; ++i) {
    const LayerSpec& l = c.layers[i];
    int& hd = kind_head_dim[l.kind == AttentionKind::kFull];
    if (hd == 0) hd = l.head_dim;
    if (hd != l.head_dim) {
      Fail(tc_where, ": layer ", i, " (", AttentionKindName(l.kind), " attention) has head dim ", l.head_dim,
           " but an earlier layer of the same kind has ", hd);
    }
    if (l.n_kv_heads <= 0 || l.n_heads % l.n_kv_heads != 0) {
      Fail(tc_where, ": num_attention_heads (", l.n_heads, ") must be a multiple of the KV heads of layer ", i, " (",
           l.n_kv_heads, ", from ", l.kind == AttentionKind::kFull ? "num_global_key_value_heads" : "num_key_value_heads",
           ")");
    }
  }
  double base_full, partial_full, base_swa, partial_swa;
  HfRope(tc, "full_attention", 1e6, &base_full, &partial_full, tc_where);
  HfRope(tc, "sliding_attention", 1e4, &base_swa, &partial_swa, tc_where);
  c.rope_full = MakeProportionalRope(kind_head_dim[1] > 0 ? kind_head_dim[1] : hd_full, base_full, partial_full);
  c.rope_sliding = MakeProportionalRope(kind_head_dim[0] > 0 ? kind_head_dim[0] : hd_swa, base_swa, partial_swa);
  c.Finalize(tc_where);
  return c;
}

void ModelConfig::Finalize(const std::string& where) {
  if (static_cast<int>(layers.size()) != n_layers) Fail(where, ": layer count mismatch");
  if (ple_dim < 0) Fail(where, ": negative per-layer embedding width");
  if (n_experts > 0 && (n_experts_used <= 0 || n_experts_used > n_experts || expert_ff_dim <= 0)) {
    Fail(where, ": inconsistent MoE settings: ", n_experts, " experts, ", n_experts_used, " used, width ",
         expert_ff_dim);
  }
  std::vector<AttentionKind> kinds;
  for (const LayerSpec& l : layers) kinds.push_back(l.kind);
  for (int i = 0; i < n_layers; ++i) {
    LayerSpec& l = layers[i];
    if (l.head_dim <= 0 || l.head_dim % 2 != 0) Fail(where, ": layer ", i, " head dim ", l.head_dim, " must be even");
    if (l.n_kv_heads <= 0 || l.n_heads % l.n_kv_heads != 0) {
      Fail(where, ": layer ", i, ": ", l.n_heads, " query heads are not a multiple of ", l.n_kv_heads, " KV heads");
    }
    const RopeSpec& rope = l.kind == AttentionKind::kSliding ? rope_sliding : rope_full;
    if (rope.n_rot > l.head_dim || rope.n_rot % 2 != 0) {
      Fail(where, ": layer ", i, ": rope dimension ", rope.n_rot, " does not fit head dim ", l.head_dim);
    }
    l.window = l.kind == AttentionKind::kSliding ? sliding_window : 0;
    if (l.kind == AttentionKind::kSliding && sliding_window <= 0) {
      Fail(where, ": layer ", i, " is a sliding-window layer but the sliding window is ", sliding_window);
    }
    l.kv_source = KvSourceLayer(kinds, i, first_kv_shared_layer);
    l.owns_kv = l.kv_source == i;
    if (l.kv_source < 0) {
      Fail(where, ": layer ", i, " shares its KV cache but no earlier ", AttentionKindName(l.kind),
           " layer owns one (first shared layer ", first_kv_shared_layer, ")");
    }
    const LayerSpec& src = layers[l.kv_source];
    if (!l.owns_kv && (src.head_dim != l.head_dim || src.n_kv_heads != l.n_kv_heads)) {
      Fail(where, ": layer ", i, " shares the KV cache of layer ", l.kv_source, " but their head shapes differ");
    }
  }
  variant = VariantName(n_layers, d_model);
}

int ModelConfig::n_kv_owning_layers() const {
  int n = 0;
  for (const LayerSpec& l : layers) n += l.owns_kv;
  return n;
}

}  // namespace g4
