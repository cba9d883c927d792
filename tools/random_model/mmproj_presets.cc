#include "mmproj_presets.h"

#include <cmath>

#include "base/error.h"

namespace g4 {
namespace {

// Clip bounds wide enough that random activations (of order 1) are rarely clamped, so the
// encoder's work is the real one rather than a saturated shortcut.
constexpr float kClipBound = 64.0f;

const VisionTowerShape kSmallVision{.n_layer = 16, .n_embd = 768, .n_head = 12, .n_ff = 3072, .clipped_linears = true};
const VisionTowerShape kLargeVision{.n_layer = 27, .n_embd = 1152, .n_head = 16, .n_ff = 4304, .standardize = true};
const AudioTowerShape kConformer{.n_layer = 12, .n_embd = 1024, .n_head = 8, .n_ff = 4096};

const std::vector<MmprojPreset>& MmprojPresets() {
  static const std::vector<MmprojPreset> presets = {
      {.name = "e2b", .text_hidden = 1536, .vision = kSmallVision, .has_audio = true, .audio = kConformer},
      {.name = "e4b", .text_hidden = 2560, .vision = kSmallVision, .has_audio = true, .audio = kConformer},
      {.name = "26b-a4b", .text_hidden = 2816, .vision = kLargeVision, .has_audio = false, .audio = {}},
      {.name = "31b", .text_hidden = 5376, .vision = kLargeVision, .has_audio = false, .audio = {}},
  };
  return presets;
}

TensorPlan Matrix(std::string name, std::vector<int64_t> shape) {
  TensorPlan t{.name = std::move(name), .shape = std::move(shape)};
  t.scale = 1.0f / std::sqrt(static_cast<float>(t.row_length()));
  return t;
}

// A filter whose fan-in spans several ggml dimensions (convolutions, the patch embedding).
TensorPlan Filter(std::string name, std::vector<int64_t> shape, int64_t fan_in) {
  TensorPlan t = Matrix(std::move(name), std::move(shape));
  t.scale = 1.0f / std::sqrt(static_cast<float>(fan_in));
  return t;
}

TensorPlan Vector(std::string name, int64_t n, ValueKind kind = ValueKind::kNorm, float scale = 0.0f) {
  return TensorPlan{.name = std::move(name), .shape = {n}, .kind = kind, .storage = StorageKind::kVector,
                    .scale = scale};
}

void AddClipBounds(std::vector<TensorPlan>& plan, const std::string& linear) {
  const std::pair<const char*, float> bounds[] = {
      {"input_min", -kClipBound}, {"input_max", kClipBound}, {"output_min", -kClipBound}, {"output_max", kClipBound}};
  for (const auto& [suffix, value] : bounds) {
    TensorPlan t = Vector(linear + "." + suffix, 1, ValueKind::kUniform, value);
    t.scale2 = value;
    plan.push_back(std::move(t));
  }
}

void PlanVision(const MmprojPreset& p, std::vector<TensorPlan>& plan) {
  const VisionTowerShape& v = p.vision;
  const int64_t d = v.n_embd, hd = v.n_embd / v.n_head, ps = v.patch_size;
  plan.push_back(Filter("v.patch_embd.weight", {ps, ps, 3, d}, ps * ps * 3));
  plan.push_back(Filter("v.position_embd.weight", {d, v.pos_size, 2}, d));
  for (int64_t i = 0; i < v.n_layer; ++i) {
    const std::string b = "v.blk." + std::to_string(i) + ".";
    plan.push_back(Vector(b + "ln1.weight", d));
    for (const char* m : {"attn_q", "attn_k", "attn_v"}) plan.push_back(Matrix(b + m + ".weight", {d, d}));
    plan.push_back(Vector(b + "attn_q_norm.weight", hd));
    plan.push_back(Vector(b + "attn_k_norm.weight", hd));
    plan.push_back(Matrix(b + "attn_out.weight", {d, d}));
    plan.push_back(Vector(b + "attn_post_norm.weight", d));
    plan.push_back(Vector(b + "ln2.weight", d));
    plan.push_back(Matrix(b + "ffn_gate.weight", {d, v.n_ff}));
    plan.push_back(Matrix(b + "ffn_up.weight", {d, v.n_ff}));
    plan.push_back(Matrix(b + "ffn_down.weight", {v.n_ff, d}));
    plan.push_back(Vector(b + "ffn_post_norm.weight", d));
    if (v.clipped_linears) {
      for (const char* m : {"attn_q", "attn_k", "attn_v", "attn_out", "ffn_gate", "ffn_up", "ffn_down"}) {
        AddClipBounds(plan, b + m);
      }
    }
  }
  if (v.standardize) {
    plan.push_back(Vector("v.std_bias", d, ValueKind::kNormal, 0.1f));
    plan.push_back(Vector("v.std_scale", d, ValueKind::kNorm));
  }
  plan.push_back(Matrix("mm.input_projection.weight", {d, p.text_hidden}));
}

void PlanAudio(const MmprojPreset& p, std::vector<TensorPlan>& plan) {
  const AudioTowerShape& a = p.audio;
  const int64_t d = a.n_embd, hd = a.n_embd / a.n_head, c0 = a.sscp_channels[0], c1 = a.sscp_channels[1];
  plan.push_back(Filter("a.conv1d.0.weight", {3, 3, 1, c0}, 9));
  plan.push_back(Vector("a.conv1d.0.norm.weight", c0));
  plan.push_back(Filter("a.conv1d.1.weight", {3, 3, c0, c1}, 9 * c0));
  plan.push_back(Vector("a.conv1d.1.norm.weight", c1));
  plan.push_back(Matrix("a.input_projection.weight", {a.n_mel / 4 * c1, d}));
  for (int64_t i = 0; i < a.n_layer; ++i) {
    const std::string b = "a.blk." + std::to_string(i) + ".";
    auto feed_forward = [&](const std::string& suffix) {
      plan.push_back(Vector(b + "ffn_norm" + suffix + ".weight", d));
      plan.push_back(Matrix(b + "ffn_up" + suffix + ".weight", {d, a.n_ff}));
      plan.push_back(Matrix(b + "ffn_down" + suffix + ".weight", {a.n_ff, d}));
      plan.push_back(Vector(b + "ffn_post_norm" + suffix + ".weight", d));
    };
    feed_forward("");
    plan.push_back(Vector(b + "attn_pre_norm.weight", d));
    for (const char* m : {"attn_q", "attn_k", "attn_v"}) plan.push_back(Matrix(b + m + ".weight", {d, d}));
    // Stored after softplus (spec §5.3): softplus(0) = ln 2 is the untrained value.
    plan.push_back(Vector(b + "per_dim_scale.weight", hd, ValueKind::kAround, std::log(2.0f)));
    plan.push_back(Matrix(b + "attn_k_rel.weight", {d, d}));
    plan.push_back(Matrix(b + "attn_out.weight", {d, d}));
    plan.push_back(Vector(b + "attn_post_norm.weight", d));
    plan.push_back(Vector(b + "conv_norm.weight", d));
    plan.push_back(Matrix(b + "conv_pw1.weight", {d, 2 * d}));
    plan.push_back(Filter(b + "conv_dw.weight", {a.conv_kernel, d}, a.conv_kernel));
    plan.push_back(Vector(b + "norm_conv.weight", d));
    plan.push_back(Matrix(b + "conv_pw2.weight", {d, d}));
    feed_forward("_1");
    plan.push_back(Vector(b + "ln2.weight", d));
    for (const char* m : {"attn_q", "attn_k", "attn_v", "ffn_up", "ffn_down", "attn_out", "conv_pw1", "conv_pw2",
                          "ffn_up_1", "ffn_down_1"}) {
      AddClipBounds(plan, b + m);
    }
  }
  plan.push_back(Matrix("a.pre_encode.out.weight", {d, a.out_proj}));
  plan.push_back(Vector("a.pre_encode.out.bias", a.out_proj, ValueKind::kNormal, 0.02f));
  plan.push_back(Matrix("mm.a.input_projection.weight", {a.out_proj, p.text_hidden}));
}

int64_t IntField(const nlohmann::json& section, const char* section_name, const char* key) {
  if (!section.contains(key) || !section[key].is_number_integer() || section[key].get<int64_t>() <= 0) {
    Fail("golden mmproj config: generator_config.", section_name, ".", key, " must be a positive integer");
  }
  return section[key].get<int64_t>();
}

bool BoolField(const nlohmann::json& section, const char* section_name, const char* key) {
  if (!section.contains(key) || !section[key].is_boolean()) {
    Fail("golden mmproj config: generator_config.", section_name, ".", key, " must be true or false");
  }
  return section[key].get<bool>();
}

}  // namespace

MmprojPreset MmprojPresetFromGoldenConfig(const nlohmann::json& config) {
  const nlohmann::json* g = config.is_object() && config.contains("generator_config") ? &config["generator_config"]
                                                                                      : nullptr;
  if (g == nullptr || !g->is_object() || !g->contains("vision") || !(*g)["vision"].is_object()) {
    Fail("golden mmproj config: generator_config.vision is missing");
  }
  MmprojPreset p;
  p.name = config.value("preset", std::string("golden"));
  p.use_gelu_key = true;
  p.text_hidden = IntField(*g, "(top level)", "text_hidden");
  const nlohmann::json& v = (*g)["vision"];
  p.vision = VisionTowerShape{.n_layer = IntField(v, "vision", "n_layer"), .n_embd = IntField(v, "vision", "n_embd"),
                              .n_head = IntField(v, "vision", "n_head"), .n_ff = IntField(v, "vision", "n_ff"),
                              .patch_size = IntField(v, "vision", "patch_size"),
                              .pos_size = IntField(v, "vision", "pos_size"), .pooling = IntField(v, "vision", "pooling"),
                              .clipped_linears = BoolField(v, "vision", "clipped_linears"),
                              .standardize = BoolField(v, "vision", "standardize")};
  const nlohmann::json& a = g->contains("audio") ? (*g)["audio"] : nlohmann::json();
  if (a.is_object()) {
    p.has_audio = true;
    const nlohmann::json& channels = a.contains("sscp_channels") ? a["sscp_channels"] : nlohmann::json();
    if (!channels.is_array() || channels.size() != 2 || !channels[0].is_number_integer() ||
        !channels[1].is_number_integer()) {
      Fail("golden mmproj config: generator_config.audio.sscp_channels must be two integers");
    }
    p.audio = AudioTowerShape{.n_layer = IntField(a, "audio", "n_layer"), .n_embd = IntField(a, "audio", "n_embd"),
                              .n_head = IntField(a, "audio", "n_head"), .n_ff = IntField(a, "audio", "n_ff"),
                              .n_mel = IntField(a, "audio", "n_mel"),
                              .sscp_channels = {channels[0].get<int64_t>(), channels[1].get<int64_t>()},
                              .conv_kernel = IntField(a, "audio", "conv_kernel"),
                              .out_proj = IntField(a, "audio", "out_proj")};
    if (!BoolField(a, "audio", "clipped_linears")) Fail("golden mmproj config: audio towers without clip bounds are not supported");
  }
  return p;
}

const MmprojPreset* FindMmprojPreset(const std::string& name) {
  for (const MmprojPreset& p : MmprojPresets()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::vector<TensorPlan> PlanMmprojTensors(const MmprojPreset& p) {
  std::vector<TensorPlan> plan;
  PlanVision(p, plan);
  if (p.has_audio) PlanAudio(p, plan);
  return plan;
}

void WriteMmprojMetadata(GgufWriter& w, const MmprojPreset& p, DType wtype, const std::string& description) {
  auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  const VisionTowerShape& v = p.vision;
  w.SetString("general.architecture", "clip");
  w.SetString("general.type", "mmproj");
  w.SetString("general.name", "Gemma 4 " + p.name + " multimodal towers (random weights)");
  w.SetString("general.description", description);
  w.SetUint32("general.file_type", FileType(wtype));
  w.SetBool("clip.has_vision_encoder", true);
  w.SetString("clip.vision.projector_type", "gemma4v");
  w.SetUint32("clip.vision.projection_dim", u32(p.text_hidden));
  w.SetUint32("clip.vision.image_size", 224);
  w.SetUint32("clip.vision.patch_size", u32(v.patch_size));
  w.SetUint32("clip.vision.embedding_length", u32(v.n_embd));
  w.SetUint32("clip.vision.feed_forward_length", u32(v.n_ff));
  w.SetUint32("clip.vision.block_count", u32(v.n_layer));
  w.SetUint32("clip.vision.attention.head_count", u32(v.n_head));
  w.SetFloat32("clip.vision.attention.layer_norm_epsilon", 1e-6f);
  w.SetFloat32Array("clip.vision.image_mean", {0.0f, 0.0f, 0.0f});
  w.SetFloat32Array("clip.vision.image_std", {1.0f, 1.0f, 1.0f});
  if (p.use_gelu_key) w.SetBool("clip.use_gelu", true);
  w.SetUint32("clip.vision.projector.scale_factor", u32(v.pooling));
  if (!p.has_audio) return;
  const AudioTowerShape& a = p.audio;
  w.SetBool("clip.has_audio_encoder", true);
  w.SetString("clip.audio.projector_type", "gemma4a");
  w.SetUint32("clip.audio.projection_dim", u32(p.text_hidden));
  w.SetUint32("clip.audio.embedding_length", u32(a.n_embd));
  w.SetUint32("clip.audio.feed_forward_length", u32(a.n_ff));
  w.SetUint32("clip.audio.block_count", u32(a.n_layer));
  w.SetUint32("clip.audio.attention.head_count", u32(a.n_head));
  w.SetUint32("clip.audio.num_mel_bins", u32(a.n_mel));
  w.SetFloat32("clip.audio.attention.layer_norm_epsilon", 1e-6f);
}

}  // namespace g4
