// The one internal description of a Gemma 4 text decoder, filled from GGUF metadata or from a
// Hugging Face config.json. Every per-layer difference (attention type, head sizes, KV sharing,
// FFN width, MoE) is data computed here once; the forward pass only reads it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace g4 {

class GgufFile;

enum class AttentionKind { kSliding, kFull };
const char* AttentionKindName(AttentionKind kind);

// Rotary embedding of one layer type, NeoX ("rotate half") pairing over the first `n_rot`
// lanes of a head: lane j pairs with lane j + n_rot/2 and turns by pos * inv_freq[j].
// Proportional RoPE (full layers) is n_rot = head_dim with inv_freq[j] = 0 past the rotated
// pairs, so those lanes pass through unchanged.
struct RopeSpec {
  int n_rot = 0;
  std::vector<float> inv_freq;  // [n_rot / 2]
  int rotated_pairs() const;    // entries with a non-zero frequency
};

struct LayerSpec {
  AttentionKind kind = AttentionKind::kSliding;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int window = 0;           // sliding window in tokens (query sees itself + window-1 before); 0 = full
  bool keys_as_values = false;  // V = no-scale RMSNorm of the K projection (no V weight)
  bool owns_kv = true;      // computes and caches its own K/V
  int kv_source = 0;        // layer whose cache it reads (itself when owns_kv)
  int ff_dim = 0;           // dense MLP width
  bool has_moe = false;     // routed experts in parallel with the dense MLP
};

struct ModelConfig {
  std::string variant;      // "E2B", "E4B", "26B-A4B", "31B" when the shape matches, else "custom"
  int n_layers = 0;
  int d_model = 0;
  int vocab_size = 0;
  int context_length = 0;
  float rms_eps = 1e-6f;
  float final_softcap = 0.0f;   // 0 = none
  int ple_dim = 0;              // per-layer embedding width (0 = no PLE)
  int n_experts = 0;
  int n_experts_used = 0;
  int expert_ff_dim = 0;
  int first_kv_shared_layer = 0;  // == n_layers when nothing is shared
  int sliding_window = 0;
  // Image and video-frame soft tokens attend bidirectionally within their run, on the
  // sliding-window layers (spec §4.4; Hugging Face text_config.use_bidirectional_attention ==
  // "vision", the 26B-A4B and 31B configs). See FromGguf for how a GGUF says so.
  bool vision_bidirectional = false;
  int bos_token_id = 2;
  int eos_token_id = 1;
  RopeSpec rope_sliding;
  RopeSpec rope_full;
  std::vector<LayerSpec> layers;

  // Fills ModelConfig from a GGUF with general.architecture == "gemma4". `rope_freqs` is the
  // content of the rope_freqs.weight tensor if the file has one (else empty).
  static ModelConfig FromGguf(const GgufFile& gguf, const std::vector<float>& rope_freqs);
  // Fills ModelConfig from a parsed config.json (Gemma4ForConditionalGeneration with
  // text_config, or the text-only Gemma4ForCausalLM form). `where` names the file in errors.
  static ModelConfig FromHfConfig(const nlohmann::json& config, const std::string& where);

  // Derived once both loaders have filled the per-layer basics: KV sources, window, RoPE
  // pointers, variant name. Throws g4::Error for an inconsistent description.
  void Finalize(const std::string& where);

  int n_kv_owning_layers() const;
  const RopeSpec& RopeOf(const LayerSpec& layer) const {
    return layer.kind == AttentionKind::kSliding ? rope_sliding : rope_full;
  }
};

// Index of the layer whose K/V a layer reads: itself if it is below `first_shared`, else the
// last layer below `first_shared` of the same attention kind. Returns -1 when there is none.
int KvSourceLayer(const std::vector<AttentionKind>& kinds, int layer, int first_shared);

// inv_freq[j] = base^(-2j/n_rot) / factor[j] (factor 1 when `factors` is empty), the
// llama.cpp convention for rope_freqs.
RopeSpec MakeRope(int n_rot, double base, const std::vector<float>& factors);
// Hugging Face "proportional" RoPE: the first int(partial * head_dim / 2) pairs rotate with
// base^(-2j/head_dim), the rest are fixed.
RopeSpec MakeProportionalRope(int head_dim, double base, double partial_rotary_factor);

}  // namespace g4
