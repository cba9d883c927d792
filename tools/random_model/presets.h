// Model shapes for g4-random-model: the published Gemma 4 variants, the tiny golden presets, and
// the GGUF layout (tensor list, metadata, placeholder vocabulary) that llama.cpp's converter
// would produce for them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/gguf_writer.h"
#include "ops/dtype.h"

namespace g4 {

struct ModelPreset {
  std::string name;        // CLI name, e.g. "e2b"
  std::string model_name;  // general.name
  std::string summary;     // one line for --list
  int64_t n_vocab = 262144;
  int64_t n_ctx_train = 131072;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  std::vector<int64_t> n_ff;      // dense MLP width per layer
  bool ff_per_layer_key = false;  // feed_forward_length as an array (use_double_wide_mlp)
  int64_t n_head = 0;
  std::vector<int64_t> n_head_kv;      // per layer
  bool head_kv_per_layer_key = false;  // head_count_kv as an array (global KV heads set)
  int64_t head_dim = 256;              // sliding layers
  int64_t head_dim_global = 512;       // full-attention layers
  bool k_eq_v = false;                 // full layers reuse the keys as values (no attn_v)
  std::vector<bool> sliding;           // per layer: true = sliding-window attention
  int64_t sliding_window = 512;
  int64_t n_kv_shared = 0;       // the last n_kv_shared layers reuse earlier layers' K/V
  int64_t n_embd_per_layer = 0;  // PLE width (0: no per-layer embeddings)
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  int64_t n_ff_exp = 0;
  float rope_theta = 1e6f;
  float rope_theta_swa = 1e4f;
  float partial_rotary_factor = 0.25f;  // full layers
  float rms_eps = 1e-6f;
  float final_logit_softcapping = 30.0f;
  // Weight scales of the random generator (as in the golden generator's config).
  float w_mult = 1.0f;      // matrices: std = w_mult / sqrt(row length)
  float embd_mult = 2.0f;   // token_embd: std = embd_mult / sqrt(n_embd)
  float router_std = 1.0f;  // ffn_gate_inp.weight

  int64_t first_kv_shared_layer() const { return n_layer - n_kv_shared; }
};

const std::vector<ModelPreset>& BuiltinPresets();
// nullptr when `name` is not a built-in preset.
const ModelPreset* FindPreset(const std::string& name);
// Builds a preset from a golden `*.config.json` (its generator_config and
// text_config._llama_cpp fields). Throws g4::Error on missing or inconsistent fields.
ModelPreset PresetFromGoldenConfig(const nlohmann::json& config);
// Throws g4::Error naming the problem when the shapes are inconsistent.
void ValidatePreset(const ModelPreset& p);

// How a tensor's values are drawn.
enum class ValueKind {
  kNormal,     // N(0, scale^2)-like
  kNorm,       // norm weight: around 1
  kAround,     // around `scale` with 10 % spread (q/k norms)
  kUniform,    // uniform in [scale, scale2]
  kRopeFreqs,  // 1.0 for the rotated pairs, 1e30 for the rest
};

// How a tensor is stored for a given --type.
enum class StorageKind {
  kVector,            // always F32 (norms, scales, rope_freqs)
  kMatrix,            // the chosen type; F16 when quantized and rows don't fit the blocks
  kMatrixF32IfQuant,  // like kMatrix, but F32 for quantized types (router, PLE projection)
};

struct TensorPlan {
  std::string name;
  std::vector<int64_t> shape;  // ggml order
  ValueKind kind = ValueKind::kNormal;
  StorageKind storage = StorageKind::kMatrix;
  float scale = 0.0f;
  float scale2 = 0.0f;
  int64_t rotated = 0;       // kRopeFreqs: entries equal to 1.0
  bool is_parameter = true;  // false for rope_freqs, which the converter synthesises

  int64_t n_elements() const;
  int64_t row_length() const { return shape[0]; }
  int64_t n_rows() const { return n_elements() / shape[0]; }
};

// Tensors in the order llama.cpp's converter writes them. `shared_kv_tensors` also writes the
// (unused) attn_k/attn_v/attn_k_norm of KV-shared layers, as official checkpoints carry them.
std::vector<TensorPlan> PlanTensors(const ModelPreset& p, bool shared_kv_tensors);

// Storage type of `t` for a model whose matrices are `wtype`.
DType StorageType(const TensorPlan& t, DType wtype);

// general.file_type value (llama_ftype) for a model whose matrices are `wtype`.
uint32_t FileType(DType wtype);

class Tokenizer;

// Every metadata key, in the converter's order: general.*, gemma4.*, tokenizer.*. With
// `vocabulary`, the tokenizer keys carry that real Gemma 4 vocabulary (as llama.cpp's converter
// writes it); without, a placeholder SentencePiece-style vocabulary of p.n_vocab tokens.
void WriteMetadata(GgufWriter& w, const ModelPreset& p, DType wtype,
                   const std::string& description, const Tokenizer* vocabulary = nullptr);

}  // namespace g4
