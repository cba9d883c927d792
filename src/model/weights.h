// Binds the tensors of a GGUF file or a Hugging Face checkpoint to the roles the decoder
// needs, checking each shape against the ModelConfig. Large matrices stay in their stored type
// and in place (memory-mapped); small vectors (norm weights, scales) are converted to float.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "model/tensor.h"

namespace g4 {

struct LayerWeights {
  std::vector<float> attn_norm, q_norm, k_norm, post_attn_norm;
  std::vector<float> ffn_norm, post_ffw_norm;
  float layer_scalar = 1.0f;
  TensorView wq, wk, wv, wo;  // {d, Hq*hd}, {d, Hkv*hd}, {d, Hkv*hd}, {Hq*hd, d}; wk/wv empty on shared layers
  TensorView ffn_gate, ffn_up, ffn_down;  // {d, ff}, {d, ff}, {ff, d}

  // Per-layer embeddings (E models).
  TensorView ple_gate, ple_proj;  // {d, P}, {P, d}
  std::vector<float> ple_post_norm;

  // Mixture of experts (26B-A4B style).
  TensorView router;  // {d, E}
  std::vector<float> router_scale, expert_scale;  // [d], [E]
  std::vector<float> pre_ffw_norm_2, post_ffw_norm_1, post_ffw_norm_2;
  bool fused_gate_up = true;
  TensorView experts_gate_up;             // {d, 2*I, E}: per expert rows [0, I) gate, [I, 2I) up
  TensorView experts_gate, experts_up;    // {d, I, E} each (split layout)
  TensorView experts_down;                // {I, d, E}
};

struct ModelWeights {
  TensorView token_embd;  // {d, V}
  TensorView output;      // {d, V}; the same table as token_embd when tied
  std::vector<float> output_norm;
  TensorView ple_token_embd;  // {L*P, V}
  TensorView ple_model_proj;  // {d, L*P}
  std::vector<float> ple_proj_norm;  // [P]
  std::vector<LayerWeights> layers;
};

// Looks a tensor up by its name in the source file(s); nullptr when absent.
using TensorLookup = std::function<const TensorView*(const std::string& name)>;

// GGUF names (blk.N.attn_q.weight ...). Sets config->vocab_size from token_embd and marks
// full layers without attn_v as keys_as_values. `where` names the file in errors.
ModelWeights BindGgufWeights(const TensorLookup& find, ModelConfig* config, const std::string& where);
// Hugging Face names (model.language_model.layers.N.self_attn.q_proj.weight ...); `prefix` is
// "model.language_model." or "model.".
ModelWeights BindHfWeights(const TensorLookup& find, const std::string& prefix, ModelConfig* config,
                           const std::string& where);

// A 1-D (or any) tensor converted to floats.
std::vector<float> TensorToFloats(const TensorView& t);

}  // namespace g4
