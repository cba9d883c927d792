#include "model/audio_weights.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "model/gguf.h"

namespace g4 {
namespace {

// Tensor names of one source format. Linears name the module: the weight is <name>.weight (or
// .linear.weight) and the clip bounds <name>.input_min ...
struct AudioNames {
  const char* conv0;
  const char* conv1;
  const char* conv0_norm;
  const char* conv1_norm;
  const char* input_proj;
  const char* output_proj;
  const char* output_bias;
  const char* projection;
  const char* layer_prefix;  // followed by the layer index and "."
  const char* ffn_pre_norm[2];
  const char* ffn_up[2];
  const char* ffn_down[2];
  const char* ffn_post_norm[2];
  const char* attn_pre_norm;
  const char* q;
  const char* k;
  const char* v;
  const char* o;
  const char* attn_post_norm;
  const char* per_dim_scale;
  const char* k_rel;
  const char* conv_pre_norm;
  const char* conv_start;
  const char* conv_dw;
  const char* conv_norm;
  const char* conv_end;
  const char* out_norm;
  bool per_dim_scale_raw;  // HF stores the parameter before softplus, llama.cpp's converter after
};

constexpr AudioNames kGgufNames = {
    "a.conv1d.0.weight", "a.conv1d.1.weight", "a.conv1d.0.norm.weight", "a.conv1d.1.norm.weight",
    "a.input_projection.weight", "a.pre_encode.out.weight", "a.pre_encode.out.bias", "mm.a.input_projection.weight",
    "a.blk.",
    {"ffn_norm.weight", "ffn_norm_1.weight"}, {"ffn_up", "ffn_up_1"}, {"ffn_down", "ffn_down_1"},
    {"ffn_post_norm.weight", "ffn_post_norm_1.weight"},
    "attn_pre_norm.weight", "attn_q", "attn_k", "attn_v", "attn_out", "attn_post_norm.weight",
    "per_dim_scale.weight", "attn_k_rel.weight",
    "conv_norm.weight", "conv_pw1", "conv_dw.weight", "norm_conv.weight", "conv_pw2", "ln2.weight",
    false};

constexpr AudioNames kHfNames = {
    "model.audio_tower.subsample_conv_projection.layer0.conv.weight",
    "model.audio_tower.subsample_conv_projection.layer1.conv.weight",
    "model.audio_tower.subsample_conv_projection.layer0.norm.weight",
    "model.audio_tower.subsample_conv_projection.layer1.norm.weight",
    "model.audio_tower.subsample_conv_projection.input_proj_linear.weight",
    "model.audio_tower.output_proj.weight", "model.audio_tower.output_proj.bias",
    "model.embed_audio.embedding_projection.weight",
    "model.audio_tower.layers.",
    {"feed_forward1.pre_layer_norm.weight", "feed_forward2.pre_layer_norm.weight"},
    {"feed_forward1.ffw_layer_1", "feed_forward2.ffw_layer_1"},
    {"feed_forward1.ffw_layer_2", "feed_forward2.ffw_layer_2"},
    {"feed_forward1.post_layer_norm.weight", "feed_forward2.post_layer_norm.weight"},
    "norm_pre_attn.weight", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.post",
    "norm_post_attn.weight", "self_attn.per_dim_scale", "self_attn.relative_k_proj.weight",
    "lconv1d.pre_layer_norm.weight", "lconv1d.linear_start", "lconv1d.depthwise_conv1d.weight",
    "lconv1d.conv_norm.weight", "lconv1d.linear_end", "norm_out.weight",
    true};

std::string LayerTensor(const AudioNames& n, int64_t layer, const char* suffix) {
  return Concat(n.layer_prefix, layer, ".", suffix);
}

// The weight name of a linear module in either form.
std::string LinearWeight(const TowerBinder& b, const std::string& base) {
  const bool wrapped = b.Find(base + ".weight") == nullptr && b.Find(base + ".linear.weight") != nullptr;
  return base + (wrapped ? ".linear.weight" : ".weight");
}

AudioTower Bind(const TowerBinder& b, const AudioNames& n, AudioConfig c) {
  AudioTower tower;
  AudioWeights& w = tower.weights;
  // Sizes from the tensors: the convolutions give the channels, the input projection the
  // width, per_dim_scale the head size, the FFN the hidden width, the projections the rest.
  const std::vector<int64_t> conv0 = b.RequireRank(n.conv0, 4, "first subsampling conv [C0, 1, 3, 3]");
  const std::vector<int64_t> conv1 = b.RequireRank(n.conv1, 4, "second subsampling conv [C1, C0, 3, 3]");
  c.conv0_channels = conv0[3];
  c.conv1_channels = conv1[3];
  c.d_model = b.RequireRank(n.input_proj, 2, "subsampling output projection").at(1);
  c.head_dim = b.RequireRank(LayerTensor(n, 0, n.per_dim_scale), 1, "per-dimension query scale").at(0);
  if (c.head_dim <= 0 || c.d_model % c.head_dim != 0) {
    Fail(b.where(), ": tensor '", LayerTensor(n, 0, n.per_dim_scale), "' has ", c.head_dim,
         " values, which does not divide the width ", c.d_model);
  }
  c.n_heads = c.d_model / c.head_dim;
  c.ff_dim = b.RequireRank(LinearWeight(b, LayerTensor(n, 0, n.ffn_up[0])), 2, "feed-forward").at(1);
  c.conv_kernel = b.RequireRank(LayerTensor(n, 0, n.conv_dw), 3, "depthwise conv").at(0);
  c.output_dim = b.RequireRank(n.output_proj, 2, "output projection").at(1);
  c.text_width = b.RequireRank(n.projection, 2, "projection to the text width").at(1);
  while (b.Find(LayerTensor(n, c.n_layers, n.attn_pre_norm)) != nullptr) ++c.n_layers;
  if (c.n_layers < 1) b.Missing(LayerTensor(n, 0, n.attn_pre_norm), "an audio tower has at least one layer");
  if (c.n_mel % 4 != 0) Fail(b.where(), ": ", c.n_mel, " mel bins cannot be halved twice by the subsampling convs");

  const int64_t d = c.d_model;
  const int64_t C0 = c.conv0_channels;
  const int64_t C1 = c.conv1_channels;
  w.conv0 = b.Require(n.conv0, {3, 3, 1, C0}, "first subsampling conv [C0, 1, 3, 3]");
  w.conv1 = b.Require(n.conv1, {3, 3, C0, C1}, "second subsampling conv [C1, C0, 3, 3]");
  w.conv0.shape = {9, C0};  // C0 rows of (time, freq) taps
  w.conv1.shape = {9 * C0, C1};  // C1 rows of (in channel, time, freq) taps
  w.conv0_norm = b.RequireVector(n.conv0_norm, C0, "first subsampling conv's channel norm");
  w.conv1_norm = b.RequireVector(n.conv1_norm, C1, "second subsampling conv's channel norm");
  w.input_proj = b.Require(n.input_proj, {(c.n_mel / 4) * C1, d}, "subsampling output projection");
  w.output_proj = b.Require(n.output_proj, {d, c.output_dim}, "output projection");
  w.output_bias = b.RequireVector(n.output_bias, c.output_dim, "output projection bias");
  w.projection = b.Require(n.projection, {c.output_dim, c.text_width}, "projection to the text width");

  w.layers.resize(c.n_layers);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    AudioLayerWeights& lw = w.layers[l];
    const std::string why = Concat("audio layer ", l, " of ", c.n_layers, ": width ", d, ", ", c.n_heads,
                                   " heads of ", c.head_dim, ", feed-forward ", c.ff_dim);
    auto name = [&](const char* suffix) { return LayerTensor(n, l, suffix); };
    AudioFfnWeights* ffns[2] = {&lw.ffn1, &lw.ffn2};
    for (int f = 0; f < 2; ++f) {
      ffns[f]->pre_norm = b.RequireVector(name(n.ffn_pre_norm[f]), d, why);
      ffns[f]->up = b.Linear(name(n.ffn_up[f]), d, c.ff_dim, why);
      ffns[f]->down = b.Linear(name(n.ffn_down[f]), c.ff_dim, d, why);
      ffns[f]->post_norm = b.RequireVector(name(n.ffn_post_norm[f]), d, why);
    }
    lw.attn_pre_norm = b.RequireVector(name(n.attn_pre_norm), d, why);
    lw.q = b.Linear(name(n.q), d, d, why);
    lw.k = b.Linear(name(n.k), d, d, why);
    lw.v = b.Linear(name(n.v), d, d, why);
    lw.o = b.Linear(name(n.o), d, d, why);
    lw.attn_post_norm = b.RequireVector(name(n.attn_post_norm), d, why);
    lw.per_dim_scale = b.RequireVector(name(n.per_dim_scale), c.head_dim, why);
    if (n.per_dim_scale_raw) {
      for (float& s : lw.per_dim_scale) s = static_cast<float>(std::log1p(std::exp(static_cast<double>(s))));
    }
    lw.k_rel = b.Require(name(n.k_rel), {d, d}, why);
    lw.conv_pre_norm = b.RequireVector(name(n.conv_pre_norm), d, why);
    lw.conv_start = b.Linear(name(n.conv_start), d, 2 * d, why);
    // [d, K] in GGUF, [d, 1, K] (PyTorch's Conv1d) in HF.
    const TensorView* dw = b.Find(name(n.conv_dw));
    const bool with_in_axis = dw != nullptr && dw->shape.size() == 3 && dw->shape[1] == 1;
    lw.conv_dw = TensorToFloats(b.Require(name(n.conv_dw), with_in_axis ? std::vector<int64_t>{c.conv_kernel, 1, d}
                                                                       : std::vector<int64_t>{c.conv_kernel, d},
                                          why + ", depthwise conv"));
    lw.conv_norm = b.RequireVector(name(n.conv_norm), d, why);
    lw.conv_end = b.Linear(name(n.conv_end), d, d, why);
    lw.out_norm = b.RequireVector(name(n.out_norm), d, why);
  }
  tower.config = c;
  return tower;
}

}  // namespace

AudioTower BindGgufAudio(const GgufFile& gguf) {
  const std::string& where = gguf.path();
  const std::string type = gguf.GetStringOr("clip.audio.projector_type", "");
  if (!gguf.GetBoolOr("clip.has_audio_encoder", false) || type != "gemma4a") {
    Fail(where, ": the mmproj file has no Gemma 4 audio tower (clip.has_audio_encoder = ",
         gguf.GetBoolOr("clip.has_audio_encoder", false), ", projector type '", type, "', expected 'gemma4a')");
  }
  AudioConfig c;
  c.eps = static_cast<float>(gguf.GetFloatOr("clip.audio.attention.layer_norm_epsilon", 1e-6));
  c.n_mel = static_cast<int64_t>(gguf.GetUintOr("clip.audio.num_mel_bins", 128));
  TowerBinder b([&gguf](const std::string& name) { return gguf.FindTensor(name); }, where);
  AudioTower tower = Bind(b, kGgufNames, c);
  CheckGgufSizes(gguf, {{"clip.audio.embedding_length", tower.config.d_model},
                        {"clip.audio.feed_forward_length", tower.config.ff_dim},
                        {"clip.audio.block_count", tower.config.n_layers},
                        {"clip.audio.attention.head_count", tower.config.n_heads},
                        {"clip.audio.projection_dim", tower.config.text_width}});
  return tower;
}

AudioTower BindHfAudio(const TensorLookup& find, const nlohmann::json& audio_config, const std::string& where) {
  AudioConfig c;
  if (audio_config.is_object()) {
    c.eps = audio_config.value("rms_norm_eps", 1e-6f);
    c.n_mel = audio_config.value("input_feat_size", int64_t{128});
    c.chunk_size = audio_config.value("attention_context_left", int64_t{13}) - 1;
    c.logit_cap = audio_config.value("attention_logit_cap", 50.0f);
  }
  if (c.chunk_size < 1) Fail(where, ": audio_config.attention_context_left must be at least 2");
  return Bind(TowerBinder(find, where), kHfNames, c);
}

}  // namespace g4
