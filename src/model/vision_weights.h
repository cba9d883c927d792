// The Gemma 4 vision tower's configuration and weights (spec/gemma4-io.md §4.1, §4.5), bound
// from an mmproj GGUF file (llama.cpp layout, projector type gemma4v) or from the
// model.vision_tower.* / model.embed_vision.* tensors of a Hugging Face checkpoint. Every size
// comes from the tensor shapes; metadata only supplies what the tensors cannot (eps, pooling)
// and is cross-checked against them where both exist.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/tensor.h"
#include "model/tower_binder.h"

namespace g4 {

class GgufFile;

// Order of the values inside one patch row of the patch-embedding matrix.
enum class PatchLayout {
  kChannelRowCol,  // GGUF v.patch_embd [d, 3, p, p]: index (ch·p + r)·p + c
  kRowColChannel,  // HF input_proj [d, 3·p·p]: index (r·p + c)·3 + ch
};

struct VisionConfig {
  int64_t d_model = 0;      // d: 768 (E2B/E4B), 1152 (26B/31B)
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t head_dim = 0;     // d = n_heads · head_dim
  int64_t ff_dim = 0;       // gated GELU-tanh MLP width
  int64_t patch_size = 0;   // pixels per patch side (16)
  int64_t position_table_size = 0;  // positions per axis in the learned tables (10240)
  int64_t pooling = 3;      // k×k patches are averaged into one soft token
  int64_t text_width = 0;   // width of the projected embeddings (the text model's d_model)
  float eps = 1e-6f;        // every RMSNorm
  double rope_theta = 100;  // 2-D RoPE base
  bool standardize = false; // std_bias / std_scale present (large towers)
  bool clipped = false;     // some linear carries clip bounds (small towers)
  PatchLayout patch_layout = PatchLayout::kChannelRowCol;
};

struct VisionLayerWeights {
  std::vector<float> input_norm, post_attn_norm, pre_ffw_norm, post_ffw_norm;  // [d]
  std::vector<float> q_norm, k_norm;                                           // [head_dim]
  ClippedLinear q, k, v, o;      // {d, d}
  ClippedLinear gate, up, down;  // {d, ff}, {d, ff}, {ff, d}
};

struct VisionWeights {
  TensorView patch_embd;      // {3·p·p, d}: d rows of one patch each, in config.patch_layout order
  TensorView position_table;  // {d, P, 2}: rows [0, P) are the x (column) table, [P, 2P) the y (row) table
  std::vector<VisionLayerWeights> layers;
  std::vector<float> std_bias, std_scale;  // [d] when config.standardize
  TensorView projection;      // {d, text_width} (embed_vision.embedding_projection)
};

struct VisionTower {
  VisionConfig config;
  VisionWeights weights;
};

// From an mmproj GGUF (clip.vision.* keys, v.* and mm.input_projection tensors). Throws
// g4::Error naming the file and tensor or key at fault, also when the file has no gemma4v tower.
VisionTower BindGgufVision(const GgufFile& gguf);
// From a Hugging Face checkpoint's tensors; `vision_config` is config.json's "vision_config"
// (may be null: defaults then). `where` names the checkpoint in errors.
VisionTower BindHfVision(const TensorLookup& find, const nlohmann::json& vision_config, const std::string& where);

}  // namespace g4
