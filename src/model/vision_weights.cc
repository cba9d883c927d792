#include "model/vision_weights.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "model/gguf.h"

namespace g4 {
namespace {

// Tensor names of one source format.
struct VisionNames {
  std::string patch_embd, position_table, std_bias, std_scale, projection;
  std::string layer_prefix;  // followed by the layer index and "."
  const char* input_norm;
  const char* post_attn_norm;
  const char* pre_ffw_norm;
  const char* post_ffw_norm;
  const char* q_norm;
  const char* k_norm;
  const char* q;  // linears: the weight is <name>.weight (or .linear.weight), bounds <name>.input_min ...
  const char* k;
  const char* v;
  const char* o;
  const char* gate;
  const char* up;
  const char* down;
};

const VisionNames& GgufNames() {
  static const VisionNames names{"v.patch_embd.weight", "v.position_embd.weight", "v.std_bias", "v.std_scale",
                                 "mm.input_projection.weight", "v.blk.",
                                 "ln1.weight", "attn_post_norm.weight", "ln2.weight", "ffn_post_norm.weight",
                                 "attn_q_norm.weight", "attn_k_norm.weight",
                                 "attn_q", "attn_k", "attn_v", "attn_out", "ffn_gate", "ffn_up", "ffn_down"};
  return names;
}

const VisionNames& HfNames() {
  static const VisionNames names{"model.vision_tower.patch_embedder.input_proj.weight",
                                 "model.vision_tower.patch_embedder.position_embedding_table",
                                 "model.vision_tower.std_bias", "model.vision_tower.std_scale",
                                 "model.embed_vision.embedding_projection.weight",
                                 "model.vision_tower.encoder.layers.",
                                 "input_layernorm.weight", "post_attention_layernorm.weight",
                                 "pre_feedforward_layernorm.weight", "post_feedforward_layernorm.weight",
                                 "self_attn.q_norm.weight", "self_attn.k_norm.weight",
                                 "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                 "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
  return names;
}

std::string LayerTensor(const VisionNames& n, int64_t layer, const char* suffix) {
  return Concat(n.layer_prefix, layer, ".", suffix);
}

// Sizes every format agrees on, read from the tensors: patch_embd gives d and the patch size
// (set by the caller), layer 0's q_norm the head size, ffn_gate the MLP width, the position
// table its length, the projection the text width.
void ReadShapes(const TowerBinder& b, const VisionNames& n, VisionConfig* c) {
  const int64_t d = c->d_model;
  const std::vector<int64_t> pos = b.RequireRank(n.position_table, 3, "learned 2-D position tables [2, P, d]");
  c->position_table_size = pos[1];
  const std::string q_norm = LayerTensor(n, 0, n.q_norm);
  c->head_dim = b.RequireRank(q_norm, 1, "query norm over one head")[0];
  if (c->head_dim <= 0 || d % c->head_dim != 0 || c->head_dim % 4 != 0) {
    Fail(b.where(), ": tensor '", q_norm, "' has ", c->head_dim, " values; a head size must divide the width ", d,
         " and be a multiple of 4 (two RoPE halves of rotation pairs)");
  }
  c->n_heads = d / c->head_dim;
  const std::string gate = LayerTensor(n, 0, n.gate);
  const bool wrapped = b.Find(gate + ".weight") == nullptr && b.Find(gate + ".linear.weight") != nullptr;
  c->ff_dim = b.RequireRank(gate + (wrapped ? ".linear.weight" : ".weight"), 2, "MLP gate").at(1);
  c->text_width = b.RequireRank(n.projection, 2, "projection to the text width").at(1);
}

VisionWeights BindTensors(const TowerBinder& b, const VisionNames& n, VisionConfig* c) {
  if (c->n_layers < 1) b.Missing(LayerTensor(n, 0, n.input_norm), "a vision tower has at least one layer");
  if (c->pooling < 1 || c->patch_size < 1 || c->d_model < 1 || c->position_table_size < 1 || c->text_width < 1) {
    Fail(b.where(), ": vision tower with pooling ", c->pooling, ", patch size ", c->patch_size, ", width ",
         c->d_model, ", ", c->position_table_size, " positions, text width ", c->text_width,
         ": every one must be at least 1");
  }
  const int64_t d = c->d_model;
  const int64_t P = c->position_table_size;
  const int64_t ff = c->ff_dim;
  const int64_t hd = c->head_dim;
  VisionWeights w;
  w.position_table = b.Require(n.position_table, {d, P, 2}, "learned 2-D position tables [2, P, d]");
  w.projection = b.Require(n.projection, {d, c->text_width}, "projection to the text width");
  const bool has_bias = b.Find(n.std_bias) != nullptr;
  const bool has_scale = b.Find(n.std_scale) != nullptr;
  if (has_bias != has_scale) {
    b.Missing(has_bias ? n.std_scale : n.std_bias, "standardization needs both std_bias and std_scale");
  }
  c->standardize = has_bias;
  if (c->standardize) {
    w.std_bias = b.RequireVector(n.std_bias, d, "standardization");
    w.std_scale = b.RequireVector(n.std_scale, d, "standardization");
  }
  w.layers.resize(c->n_layers);
  for (int64_t l = 0; l < c->n_layers; ++l) {
    VisionLayerWeights& lw = w.layers[l];
    const std::string why = Concat("vision layer ", l, " of ", c->n_layers, ": width ", d, ", ", c->n_heads,
                                   " heads of ", hd, ", MLP ", ff);
    auto name = [&](const char* suffix) { return LayerTensor(n, l, suffix); };
    lw.input_norm = b.RequireVector(name(n.input_norm), d, why);
    lw.post_attn_norm = b.RequireVector(name(n.post_attn_norm), d, why);
    lw.pre_ffw_norm = b.RequireVector(name(n.pre_ffw_norm), d, why);
    lw.post_ffw_norm = b.RequireVector(name(n.post_ffw_norm), d, why);
    lw.q_norm = b.RequireVector(name(n.q_norm), hd, why);
    lw.k_norm = b.RequireVector(name(n.k_norm), hd, why);
    lw.q = b.Linear(name(n.q), d, d, why);
    lw.k = b.Linear(name(n.k), d, d, why);
    lw.v = b.Linear(name(n.v), d, d, why);
    lw.o = b.Linear(name(n.o), d, d, why);
    lw.gate = b.Linear(name(n.gate), d, ff, why);
    lw.up = b.Linear(name(n.up), d, ff, why);
    lw.down = b.Linear(name(n.down), ff, d, why);
    for (const ClippedLinear* lin : {&lw.q, &lw.k, &lw.v, &lw.o, &lw.gate, &lw.up, &lw.down}) {
      c->clipped = c->clipped || lin->bounds.clamps_input() || lin->bounds.clamps_output();
    }
  }
  return w;
}

// Counts the layers present (ln1 / input_layernorm of each).
int64_t CountLayers(const TowerBinder& b, const VisionNames& n) {
  int64_t l = 0;
  while (b.Find(LayerTensor(n, l, n.input_norm)) != nullptr) ++l;
  return l;
}

}  // namespace

VisionTower BindGgufVision(const GgufFile& gguf) {
  const std::string& where = gguf.path();
  const std::string type = gguf.GetStringOr("clip.vision.projector_type", gguf.GetStringOr("clip.projector_type", ""));
  if (!gguf.GetBoolOr("clip.has_vision_encoder", false) || type != "gemma4v") {
    Fail(where, ": the mmproj file has no Gemma 4 vision tower (clip.has_vision_encoder = ",
         gguf.GetBoolOr("clip.has_vision_encoder", false), ", projector type '", type, "', expected 'gemma4v')");
  }
  TowerBinder b([&gguf](const std::string& name) { return gguf.FindTensor(name); }, where);
  const VisionNames& n = GgufNames();
  VisionTower tower;
  VisionConfig& c = tower.config;
  c.patch_layout = PatchLayout::kChannelRowCol;
  const std::vector<int64_t> patch = b.RequireRank(n.patch_embd, 4, "patch embedding [d, 3, p, p]");
  c.patch_size = patch[0];
  c.d_model = patch[3];
  c.n_layers = static_cast<int64_t>(gguf.GetUint("clip.vision.block_count"));
  c.pooling = static_cast<int64_t>(gguf.GetUintOr("clip.vision.projector.scale_factor", 3));
  c.eps = static_cast<float>(gguf.GetFloatOr("clip.vision.attention.layer_norm_epsilon", 1e-6));
  ReadShapes(b, n, &c);
  // The keys must agree with the tensors they describe.
  CheckGgufSizes(gguf, {{"clip.vision.embedding_length", c.d_model},
                        {"clip.vision.patch_size", c.patch_size},
                        {"clip.vision.feed_forward_length", c.ff_dim},
                        {"clip.vision.attention.head_count", c.n_heads},
                        {"clip.vision.projection_dim", c.text_width}});
  if (CountLayers(b, n) != c.n_layers) {
    Fail(where, ": clip.vision.block_count is ", c.n_layers, " but the file has ", CountLayers(b, n),
         " vision layers (v.blk.N.ln1.weight)");
  }
  tower.weights = BindTensors(b, n, &c);
  // Seen as d rows of one (channel, row, column) patch each.
  tower.weights.patch_embd = b.Require(n.patch_embd, {c.patch_size, c.patch_size, 3, c.d_model},
                                       "patch embedding [d, 3, p, p]: square RGB patches");
  tower.weights.patch_embd.shape = {3 * c.patch_size * c.patch_size, c.d_model};
  return tower;
}

VisionTower BindHfVision(const TensorLookup& find, const nlohmann::json& vision_config, const std::string& where) {
  TowerBinder b(find, where);
  const VisionNames& n = HfNames();
  VisionTower tower;
  VisionConfig& c = tower.config;
  c.patch_layout = PatchLayout::kRowColChannel;
  const std::vector<int64_t> patch = b.RequireRank(n.patch_embd, 2, "patch embedding [d, 3·p·p]");
  c.d_model = patch[1];
  c.patch_size = std::lround(std::sqrt(patch[0] / 3.0));
  if (c.patch_size <= 0 || 3 * c.patch_size * c.patch_size != patch[0]) {
    Fail(where, ": tensor '", n.patch_embd, "' has rows of ", patch[0], " values, not 3·p·p for a square RGB patch");
  }
  c.n_layers = CountLayers(b, n);
  if (c.n_layers == 0) b.Missing(LayerTensor(n, 0, n.input_norm), "the vision tower's first layer");
  if (vision_config.is_object()) {
    c.eps = vision_config.value("rms_norm_eps", 1e-6f);
    c.pooling = vision_config.value("pooling_kernel_size", int64_t{3});
    if (vision_config.contains("rope_parameters") && vision_config["rope_parameters"].is_object()) {
      c.rope_theta = vision_config["rope_parameters"].value("rope_theta", 100.0);
    }
  }
  ReadShapes(b, n, &c);
  tower.weights = BindTensors(b, n, &c);
  tower.weights.patch_embd = b.Require(n.patch_embd, {3 * c.patch_size * c.patch_size, c.d_model}, "patch embedding");
  return tower;
}

}  // namespace g4
