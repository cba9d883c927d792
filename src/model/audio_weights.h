// The Gemma 4 audio tower's configuration and weights (spec/gemma4-io.md §5.2-5.4, §5.7), bound
// from an mmproj GGUF file (llama.cpp layout, projector type gemma4a) or from the
// model.audio_tower.* / model.embed_audio.* tensors of a Hugging Face checkpoint. Sizes come
// from the tensor shapes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/tensor.h"
#include "model/tower_binder.h"

namespace g4 {

class GgufFile;

struct AudioConfig {
  int64_t d_model = 0;        // conformer width (1024)
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t head_dim = 0;
  int64_t ff_dim = 0;         // macaron FFN width (4·d)
  int64_t n_mel = 128;        // input frequency bins
  int64_t conv0_channels = 0; // subsampling conv channels (128, 32)
  int64_t conv1_channels = 0;
  int64_t conv_kernel = 0;    // light conv module's depthwise kernel (5)
  int64_t output_dim = 0;     // output_proj width (1536)
  int64_t text_width = 0;
  float eps = 1e-6f;
  int64_t chunk_size = 12;    // local attention: each frame sees itself and the previous chunk_size − 1
  float logit_cap = 50.0f;    // attention logits softcap
};

struct AudioFfnWeights {
  std::vector<float> pre_norm, post_norm;  // [d]
  ClippedLinear up, down;                  // {d, ff}, {ff, d}
};

struct AudioLayerWeights {
  AudioFfnWeights ffn1, ffn2;
  std::vector<float> attn_pre_norm, attn_post_norm;  // [d]
  ClippedLinear q, k, v, o;                          // {d, d}
  std::vector<float> per_dim_scale;                  // [head_dim], softplus already applied
  TensorView k_rel;                                  // {d, d} relative_k_proj
  std::vector<float> conv_pre_norm;                  // [d] before linear_start
  ClippedLinear conv_start;                          // {d, 2d}
  std::vector<float> conv_dw;                        // [d][kernel] depthwise causal conv
  std::vector<float> conv_norm;                      // [d] after the depthwise conv
  ClippedLinear conv_end;                            // {d, d}
  std::vector<float> out_norm;                       // [d]
};

struct AudioWeights {
  TensorView conv0, conv1;                  // {9·1, C0}, {9·C0, C1}: rows (in channel, time, freq)
  std::vector<float> conv0_norm, conv1_norm;  // [C0], [C1] LayerNorm weights
  TensorView input_proj;                    // {(n_mel/4)·C1, d}
  std::vector<AudioLayerWeights> layers;
  TensorView output_proj;                   // {d, output_dim}
  std::vector<float> output_bias;           // [output_dim]
  TensorView projection;                    // {output_dim, text_width}
};

struct AudioTower {
  AudioConfig config;
  AudioWeights weights;
};

// From an mmproj GGUF (clip.audio.* keys, a.* and mm.a.input_projection tensors).
AudioTower BindGgufAudio(const GgufFile& gguf);
// From a Hugging Face checkpoint; `audio_config` is config.json's "audio_config" (may be null).
AudioTower BindHfAudio(const TensorLookup& find, const nlohmann::json& audio_config, const std::string& where);

}  // namespace g4
