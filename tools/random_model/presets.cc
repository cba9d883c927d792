#include "presets.h"

#include <cmath>
#include <string_view>
#include <unordered_set>

#include "base/error.h"
#include "tokenizer/gguf_vocab.h"

namespace g4 {
namespace {

struct Shape {
  const char* name = "";
  const char* model_name = "";
  const char* summary = "";
  int64_t n_vocab = 262144;
  int64_t n_ctx_train = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_ff = 0;
  bool double_wide = false;  // KV-shared layers get twice the MLP width (E2B)
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t n_head_kv_global = 0;  // 0: as on sliding layers, and head_count_kv stays a scalar
  int64_t head_dim = 256;
  int64_t head_dim_global = 512;
  bool k_eq_v = false;
  int64_t swa_period = 0;  // every swa_period-th layer is a full-attention layer
  int64_t sliding_window = 0;
  int64_t n_kv_shared = 0;
  int64_t n_embd_per_layer = 0;
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  int64_t n_ff_exp = 0;
  float softcap = 30.0f;
};

ModelPreset FromShape(const Shape& s) {
  ModelPreset p;
  p.name = s.name;
  p.model_name = s.model_name;
  p.summary = s.summary;
  p.n_vocab = s.n_vocab;
  p.n_ctx_train = s.n_ctx_train;
  p.n_embd = s.n_embd;
  p.n_layer = s.n_layer;
  p.n_head = s.n_head;
  p.head_dim = s.head_dim;
  p.head_dim_global = s.head_dim_global;
  p.k_eq_v = s.k_eq_v;
  p.sliding_window = s.sliding_window;
  p.n_kv_shared = s.n_kv_shared;
  p.n_embd_per_layer = s.n_embd_per_layer;
  p.n_expert = s.n_expert;
  p.n_expert_used = s.n_expert_used;
  p.n_ff_exp = s.n_ff_exp;
  p.final_logit_softcapping = s.softcap;
  p.ff_per_layer_key = s.double_wide;
  p.head_kv_per_layer_key = s.n_head_kv_global != 0;
  for (int64_t i = 0; i < s.n_layer; ++i) {
    const bool sliding = (i + 1) % s.swa_period != 0;
    p.sliding.push_back(sliding);
    p.n_head_kv.push_back(!sliding && s.n_head_kv_global != 0 ? s.n_head_kv_global : s.n_head_kv);
    p.n_ff.push_back(s.double_wide && i >= p.first_kv_shared_layer() ? 2 * s.n_ff : s.n_ff);
  }
  return p;
}

// Spec §1.1/§1.2 for the published variants; the tiny ones are the golden generator's presets
// (tests/data/models/tiny-*.config.json).
// clang-format off
constexpr Shape kShapes[] = {
    {.name = "e2b",
     .model_name = "Gemma 4 E2B (random weights)",
     .summary = "E2B shapes: 35 layers, d 1536, 4 sliding : 1 full, MQA, PLE 256, 20 KV-shared",
     .n_ctx_train = 131072, .n_embd = 1536, .n_layer = 35, .n_ff = 6144, .double_wide = true,
     .n_head = 8, .n_head_kv = 1, .swa_period = 5, .sliding_window = 512, .n_kv_shared = 20,
     .n_embd_per_layer = 256},
    {.name = "e4b",
     .model_name = "Gemma 4 E4B (random weights)",
     .summary = "E4B shapes: 42 layers, d 2560, 5 sliding : 1 full, 2 KV heads, PLE 256, 18 shared",
     .n_ctx_train = 131072, .n_embd = 2560, .n_layer = 42, .n_ff = 10240, .n_head = 8,
     .n_head_kv = 2, .swa_period = 6, .sliding_window = 512, .n_kv_shared = 18,
     .n_embd_per_layer = 256},
    {.name = "26b-a4b",
     .model_name = "Gemma 4 26B-A4B (random weights)",
     .summary = "26B-A4B shapes: 30 layers, d 2816, 128 experts top-8 (FF 704) + dense 2112",
     .n_ctx_train = 262144, .n_embd = 2816, .n_layer = 30, .n_ff = 2112, .n_head = 16,
     .n_head_kv = 8, .n_head_kv_global = 2, .k_eq_v = true, .swa_period = 6,
     .sliding_window = 1024, .n_expert = 128, .n_expert_used = 8, .n_ff_exp = 704},
    {.name = "31b",
     .model_name = "Gemma 4 31B (random weights)",
     .summary = "31B shapes: 60 layers, d 5376, 32 q / 16 kv heads (4 on full layers), FF 21504",
     .n_ctx_train = 262144, .n_embd = 5376, .n_layer = 60, .n_ff = 21504, .n_head = 32,
     .n_head_kv = 16, .n_head_kv_global = 4, .k_eq_v = true, .swa_period = 6,
     .sliding_window = 1024},
    {.name = "tiny-dense",
     .model_name = "tiny-dense-31b-style",
     .summary = "golden tiny-dense: 31B-style, 6 layers, d 128",
     .n_vocab = 512, .n_ctx_train = 4096, .n_embd = 128, .n_layer = 6, .n_ff = 256, .n_head = 4,
     .n_head_kv = 2, .n_head_kv_global = 1, .head_dim = 32, .head_dim_global = 64,
     .k_eq_v = true, .swa_period = 6, .sliding_window = 16, .softcap = 10.0f},
    {.name = "tiny-moe",
     .model_name = "tiny-moe-26b-a4b-style",
     .summary = "golden tiny-moe: 26B-A4B-style, 8 experts top-2",
     .n_vocab = 512, .n_ctx_train = 4096, .n_embd = 128, .n_layer = 6, .n_ff = 192, .n_head = 4,
     .n_head_kv = 2, .n_head_kv_global = 1, .head_dim = 32, .head_dim_global = 64,
     .k_eq_v = true, .swa_period = 6, .sliding_window = 16, .n_expert = 8, .n_expert_used = 2,
     .n_ff_exp = 64, .softcap = 10.0f},
    {.name = "tiny-e2b",
     .model_name = "tiny-e2b-style",
     .summary = "golden tiny-e2b: E2B-style, PLE, KV sharing, double-wide MLP",
     .n_vocab = 512, .n_ctx_train = 4096, .n_embd = 128, .n_layer = 10, .n_ff = 256,
     .double_wide = true, .n_head = 4, .n_head_kv = 1, .head_dim = 32, .head_dim_global = 64,
     .swa_period = 5, .sliding_window = 16, .n_kv_shared = 5, .n_embd_per_layer = 32,
     .softcap = 10.0f},
    {.name = "tiny-e4b",
     .model_name = "tiny-e4b-style",
     .summary = "golden tiny-e4b: E4B-style, PLE, KV sharing",
     .n_vocab = 512, .n_ctx_train = 4096, .n_embd = 128, .n_layer = 12, .n_ff = 256, .n_head = 4,
     .n_head_kv = 2, .head_dim = 32, .head_dim_global = 64, .swa_period = 6,
     .sliding_window = 16, .n_kv_shared = 6, .n_embd_per_layer = 32, .softcap = 10.0f},
    {.name = "tiny-all",
     .model_name = "tiny-all-features",
     .summary = "golden tiny-all: every feature at once, d 64",
     .n_vocab = 512, .n_ctx_train = 4096, .n_embd = 64, .n_layer = 10, .n_ff = 128,
     .double_wide = true, .n_head = 2, .n_head_kv = 2, .n_head_kv_global = 1, .head_dim = 32,
     .head_dim_global = 64, .k_eq_v = true, .swa_period = 5, .sliding_window = 8,
     .n_kv_shared = 5, .n_embd_per_layer = 16, .n_expert = 4, .n_expert_used = 2, .n_ff_exp = 32,
     .softcap = 10.0f},
};
// clang-format on

int64_t GetInt(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number_integer()) {
    Fail("config: generator_config.", key, " is missing or not an integer");
  }
  return j[key].get<int64_t>();
}

float GetFloatOr(const nlohmann::json& j, const char* key, float fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number()) Fail("config: generator_config.", key, " is not a number");
  return j[key].get<float>();
}

bool GetBoolOr(const nlohmann::json& j, const char* key, bool fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean()) Fail("config: generator_config.", key, " is not a boolean");
  return j[key].get<bool>();
}

// Placeholder SentencePiece vocabulary laid out like the golden files: 4 control tokens, the 256
// byte tokens, 139 short pieces, then (for vocabularies above 512) unique NORMAL filler pieces,
// and 113 <unusedN> slots at the end. At 512 tokens this is exactly the golden vocabulary.
struct Vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
};

constexpr int32_t kTokenNormal = 1;
constexpr int32_t kTokenUnknown = 2;
constexpr int32_t kTokenControl = 3;
constexpr int32_t kTokenUnused = 5;
constexpr int32_t kTokenByte = 6;
constexpr int64_t kUnusedSlots = 113;
constexpr std::string_view kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's word marker

std::vector<std::string> BasePieces() {
  std::vector<std::string> pieces;
  pieces.emplace_back(kSpace);
  for (char c = '!'; c <= '~'; ++c) pieces.emplace_back(1, c);
  for (char c = 'a'; c <= 'z'; ++c) pieces.push_back(std::string(kSpace) + c);
  for (const char* w : {"the", "of", "and", "to", "in", "is", "it", "that", "for", "on", "with",
                        "as", "was", "he", "be", "at", "by", "this"}) {
    pieces.push_back(std::string(kSpace) + w);
  }
  return pieces;
}

Vocab MakeVocab(int64_t n_vocab) {
  constexpr int64_t kFixed = 4 + 256;
  if (n_vocab < kFixed)
    Fail("vocabulary of ", n_vocab, " tokens is too small (needs ", kFixed, ")");
  Vocab v;
  v.tokens.reserve(n_vocab);
  v.scores.reserve(n_vocab);
  v.types.reserve(n_vocab);
  auto add = [&v](std::string piece, float score, int32_t type) {
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<pad>", 0.0f, kTokenControl);
  add("<eos>", 0.0f, kTokenControl);
  add("<bos>", 0.0f, kTokenControl);
  add("<unk>", 0.0f, kTokenUnknown);
  static const char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b)
    add(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">", 0.0f, kTokenByte);

  const int64_t n_unused = std::min(kUnusedSlots, n_vocab - kFixed);
  const int64_t n_pieces = n_vocab - kFixed - n_unused;
  std::vector<std::string> base = BasePieces();
  std::unordered_set<std::string> seen(base.begin(), base.end());
  float score = 0.0f;
  for (int64_t i = 0; i < n_pieces && i < static_cast<int64_t>(base.size()); ++i)
    add(base[i], --score, kTokenNormal);
  // Fillers are pronounceable syllable strings so random generations stay readable.
  static const char kConsonants[] = "bdfghjklmnprstvwz";
  static const char kVowels[] = "aeiou";
  constexpr int64_t kSyllables = (sizeof(kConsonants) - 1) * (sizeof(kVowels) - 1);
  for (int64_t k = 0; static_cast<int64_t>(v.tokens.size()) < kFixed + n_pieces; ++k) {
    std::string piece(kSpace);
    for (int64_t x = k;; x = x / kSyllables - 1) {
      const int64_t s = x % kSyllables;
      piece += kConsonants[s / 5];
      piece += kVowels[s % 5];
      if (x < kSyllables) break;
    }
    if (seen.insert(piece).second) add(std::move(piece), --score, kTokenNormal);
  }
  for (int64_t i = 0; i < n_unused; ++i)
    add("<unused" + std::to_string(i) + ">", -1e9f, kTokenUnused);
  return v;
}

TensorPlan Matrix(std::string name, std::vector<int64_t> shape, float std_dev,
                  StorageKind storage = StorageKind::kMatrix) {
  TensorPlan t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.kind = ValueKind::kNormal;
  t.storage = storage;
  t.scale = std_dev;
  return t;
}

TensorPlan Vector(std::string name, int64_t n, ValueKind kind, float scale = 1.0f,
                  float scale2 = 0.0f) {
  TensorPlan t;
  t.name = std::move(name);
  t.shape = {n};
  t.kind = kind;
  t.storage = StorageKind::kVector;
  t.scale = scale;
  t.scale2 = scale2;
  return t;
}

}  // namespace

const std::vector<ModelPreset>& BuiltinPresets() {
  static const std::vector<ModelPreset> presets = [] {
    std::vector<ModelPreset> v;
    for (const Shape& s : kShapes) {
      v.push_back(FromShape(s));
      ValidatePreset(v.back());
    }
    return v;
  }();
  return presets;
}

const ModelPreset* FindPreset(const std::string& name) {
  for (const ModelPreset& p : BuiltinPresets()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

ModelPreset PresetFromGoldenConfig(const nlohmann::json& config) {
  if (!config.is_object() || !config.contains("generator_config")) {
    Fail("config: no generator_config object");
  }
  const nlohmann::json& g = config["generator_config"];
  ModelPreset p;
  p.name = config.value("preset", std::string("custom"));
  p.model_name = g.value("name", p.name);
  p.summary = "from a generator config";
  p.n_vocab = GetInt(g, "n_vocab");
  p.n_ctx_train = GetInt(g, "n_ctx_train");
  p.n_embd = GetInt(g, "n_embd");
  p.n_layer = GetInt(g, "n_layer");
  p.n_head = GetInt(g, "n_head");
  p.head_dim = GetInt(g, "head_dim");
  p.head_dim_global = GetInt(g, "head_dim_global");
  p.k_eq_v = GetBoolOr(g, "attention_k_eq_v", false);
  p.sliding_window = GetInt(g, "sliding_window");
  p.n_kv_shared = GetInt(g, "n_kv_shared");
  p.n_embd_per_layer = GetInt(g, "n_embd_per_layer");
  p.n_expert = GetInt(g, "n_expert");
  p.n_expert_used = GetInt(g, "n_expert_used");
  p.n_ff_exp = GetInt(g, "n_ff_exp");
  p.rope_theta = GetFloatOr(g, "rope_theta", 1e6f);
  p.rope_theta_swa = GetFloatOr(g, "rope_theta_swa", 1e4f);
  p.partial_rotary_factor = GetFloatOr(g, "partial_rotary_factor_global", 0.25f);
  p.rms_eps = GetFloatOr(g, "rms_eps", 1e-6f);
  p.final_logit_softcapping = GetFloatOr(g, "final_logit_softcapping", 30.0f);
  p.w_mult = GetFloatOr(g, "w_mult", 1.0f);
  p.embd_mult = GetFloatOr(g, "embd_mult", 2.0f);
  p.router_std = GetFloatOr(g, "router_std", 1.0f);
  p.ff_per_layer_key = GetBoolOr(g, "use_double_wide_mlp", false);
  p.head_kv_per_layer_key = g.contains("n_head_kv_global") && !g["n_head_kv_global"].is_null();

  if (g.contains("layer_types") && g["layer_types"].is_array()) {
    for (const auto& t : g["layer_types"])
      p.sliding.push_back(t.get<std::string>() != "full_attention");
  } else {
    const int64_t period = GetInt(g, "swa_period");
    if (period <= 0) Fail("config: swa_period must be positive");
    for (int64_t i = 0; i < p.n_layer; ++i) p.sliding.push_back((i + 1) % period != 0);
  }
  const nlohmann::json* lc = nullptr;
  if (config.contains("text_config") && config["text_config"].contains("_llama_cpp")) {
    lc = &config["text_config"]["_llama_cpp"];
  }
  if (lc != nullptr && lc->contains("n_ff_per_layer")) {
    p.n_ff = (*lc)["n_ff_per_layer"].get<std::vector<int64_t>>();
  } else {
    const int64_t n_ff = GetInt(g, "n_ff");
    for (int64_t i = 0; i < p.n_layer; ++i) {
      p.n_ff.push_back(p.ff_per_layer_key && i >= p.first_kv_shared_layer() ? 2 * n_ff : n_ff);
    }
  }
  if (lc != nullptr && lc->contains("n_head_kv_per_layer")) {
    p.n_head_kv = (*lc)["n_head_kv_per_layer"].get<std::vector<int64_t>>();
  } else {
    const int64_t kv = GetInt(g, "n_head_kv");
    const int64_t kv_global = p.head_kv_per_layer_key ? GetInt(g, "n_head_kv_global") : kv;
    for (int64_t i = 0; i < p.n_layer; ++i) p.n_head_kv.push_back(p.sliding[i] ? kv : kv_global);
  }
  ValidatePreset(p);
  return p;
}

void ValidatePreset(const ModelPreset& p) {
  const std::string& n = p.name;
  auto require = [&n](bool ok, const std::string& what) {
    if (!ok) Fail("preset '", n, "': ", what);
  };
  require(p.n_embd > 0 && p.n_layer > 0 && p.n_head > 0,
          "n_embd, n_layer and n_head must be positive");
  require(p.n_vocab >= 260, "the vocabulary needs at least 260 tokens (4 control + 256 bytes)");
  require(static_cast<int64_t>(p.sliding.size()) == p.n_layer, "layer type list length != n_layer");
  require(static_cast<int64_t>(p.n_ff.size()) == p.n_layer, "n_ff list length != n_layer");
  require(static_cast<int64_t>(p.n_head_kv.size()) == p.n_layer,
          "n_head_kv list length != n_layer");
  require(p.head_dim > 0 && p.head_dim_global > 0 && p.head_dim_global % 2 == 0,
          "head dims must be positive and the global one even");
  for (int64_t i = 0; i < p.n_layer; ++i) {
    require(p.n_ff[i] > 0 && p.n_head_kv[i] > 0,
            Concat("layer ", i, " has an empty MLP or no KV heads"));
    require(p.n_head % p.n_head_kv[i] == 0,
            Concat("layer ", i, ": q heads not a multiple of KV heads"));
  }
  require(p.n_kv_shared >= 0 && p.n_kv_shared < p.n_layer, "n_kv_shared out of range");
  // A KV-shared layer reads the last non-shared layer of its own type, which must exist.
  for (int64_t i = p.first_kv_shared_layer(); i < p.n_layer; ++i) {
    bool found = false;
    for (int64_t j = 0; j < p.first_kv_shared_layer(); ++j) found |= p.sliding[j] == p.sliding[i];
    require(found, Concat("KV-shared layer ", i, " has no earlier layer of its type to read"));
  }
  require(
      p.n_expert == 0 || (p.n_expert_used > 0 && p.n_expert_used <= p.n_expert && p.n_ff_exp > 0),
      "inconsistent expert counts");
  require(p.n_embd_per_layer >= 0, "n_embd_per_layer must not be negative");
}

int64_t TensorPlan::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<TensorPlan> PlanTensors(const ModelPreset& p, bool shared_kv_tensors) {
  const int64_t d = p.n_embd;
  const int64_t ple = p.n_embd_per_layer;
  auto fan_in = [&p](int64_t row) { return p.w_mult / std::sqrt(static_cast<float>(row)); };
  std::vector<TensorPlan> t;
  t.push_back(
      Matrix("token_embd.weight", {d, p.n_vocab}, p.embd_mult / std::sqrt(static_cast<float>(d))));
  t.push_back(Vector("output_norm.weight", d, ValueKind::kNorm));
  TensorPlan rope = Vector("rope_freqs.weight", p.head_dim_global / 2, ValueKind::kRopeFreqs);
  rope.rotated =
      static_cast<int64_t>(p.partial_rotary_factor * static_cast<float>(p.head_dim_global) / 2);
  rope.is_parameter = false;
  t.push_back(rope);
  if (ple > 0) {
    t.push_back(Matrix("per_layer_token_embd.weight", {p.n_layer * ple, p.n_vocab},
                       1.0f / std::sqrt(static_cast<float>(ple))));
    t.push_back(Matrix("per_layer_model_proj.weight", {d, p.n_layer * ple}, fan_in(d),
                       StorageKind::kMatrixF32IfQuant));
    t.push_back(Vector("per_layer_proj_norm.weight", ple, ValueKind::kNorm));
  }
  for (int64_t i = 0; i < p.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    const int64_t hd = p.sliding[i] ? p.head_dim : p.head_dim_global;
    const int64_t q = p.n_head * hd;
    const int64_t kv = p.n_head_kv[i] * hd;
    const bool owns_kv = i < p.first_kv_shared_layer() || shared_kv_tensors;
    // q/k norms of about hd^-1/4 keep q.k near unit scale, since attention is unscaled.
    const float qk_norm = std::pow(static_cast<float>(hd), -0.25f);
    t.push_back(Vector(b + "attn_norm.weight", d, ValueKind::kNorm));
    t.push_back(Matrix(b + "attn_q.weight", {d, q}, fan_in(d)));
    t.push_back(Vector(b + "attn_q_norm.weight", hd, ValueKind::kAround, qk_norm));
    if (owns_kv) {
      t.push_back(Matrix(b + "attn_k.weight", {d, kv}, fan_in(d)));
      t.push_back(Vector(b + "attn_k_norm.weight", hd, ValueKind::kAround, qk_norm));
      if (p.sliding[i] || !p.k_eq_v) t.push_back(Matrix(b + "attn_v.weight", {d, kv}, fan_in(d)));
    }
    t.push_back(Matrix(b + "attn_output.weight", {q, d}, fan_in(q)));
    t.push_back(Vector(b + "post_attention_norm.weight", d, ValueKind::kNorm));
    t.push_back(Vector(b + "ffn_norm.weight", d, ValueKind::kNorm));
    t.push_back(Matrix(b + "ffn_gate.weight", {d, p.n_ff[i]}, fan_in(d)));
    t.push_back(Matrix(b + "ffn_up.weight", {d, p.n_ff[i]}, fan_in(d)));
    t.push_back(Matrix(b + "ffn_down.weight", {p.n_ff[i], d}, fan_in(p.n_ff[i])));
    t.push_back(Vector(b + "post_ffw_norm.weight", d, ValueKind::kNorm));
    // Below 1 so the residual stream, which it scales as a whole, stays bounded over many layers.
    t.push_back(Vector(b + "layer_output_scale.weight", 1, ValueKind::kUniform, 0.5f, 1.0f));
    if (p.n_expert > 0) {
      t.push_back(Matrix(b + "ffn_gate_inp.weight", {d, p.n_expert}, p.router_std,
                         StorageKind::kMatrixF32IfQuant));
      t.push_back(Vector(b + "ffn_gate_inp.scale", d, ValueKind::kNorm));
      t.push_back(Vector(b + "pre_ffw_norm_2.weight", d, ValueKind::kNorm));
      t.push_back(Vector(b + "post_ffw_norm_1.weight", d, ValueKind::kNorm));
      t.push_back(Vector(b + "post_ffw_norm_2.weight", d, ValueKind::kNorm));
      t.push_back(
          Matrix(b + "ffn_gate_up_exps.weight", {d, 2 * p.n_ff_exp, p.n_expert}, fan_in(d)));
      t.push_back(
          Matrix(b + "ffn_down_exps.weight", {p.n_ff_exp, d, p.n_expert}, fan_in(p.n_ff_exp)));
      t.push_back(Vector(b + "ffn_down_exps.scale", p.n_expert, ValueKind::kUniform, 0.5f, 1.5f));
    }
    if (ple > 0) {
      t.push_back(Matrix(b + "inp_gate.weight", {d, ple}, fan_in(d)));
      t.push_back(Matrix(b + "proj.weight", {ple, d}, fan_in(ple)));
      t.push_back(Vector(b + "post_norm.weight", d, ValueKind::kNorm));
    }
  }
  return t;
}

DType StorageType(const TensorPlan& t, DType wtype) {
  if (t.storage == StorageKind::kVector || wtype == DType::kF32) return DType::kF32;
  const bool quantized = wtype == DType::kQ8_0 || wtype == DType::kQ4_0;
  if (!quantized) return wtype;
  if (t.storage == StorageKind::kMatrixF32IfQuant) return DType::kF32;
  // llama.cpp's quantizer falls back to F16 for rows that don't fill whole blocks.
  return t.row_length() % Info(wtype).block_elems == 0 ? wtype : DType::kF16;
}

uint32_t FileType(DType wtype) {
  switch (wtype) {
    case DType::kF32:
      return 0;
    case DType::kF16:
      return 1;
    case DType::kQ4_0:
      return 2;
    case DType::kQ8_0:
      return 7;
    case DType::kBF16:
      return 32;
    default:
      Fail("no llama file type for ", DTypeName(wtype));
  }
}

void WriteMetadata(GgufWriter& w, const ModelPreset& p, DType wtype,
                   const std::string& description, const Tokenizer* vocabulary) {
  auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  w.SetString("general.architecture", "gemma4");
  w.SetString("general.name", p.model_name);
  w.SetString("general.description", description);
  w.SetUint32("general.file_type", FileType(wtype));
  w.SetUint32("general.quantization_version", 2);

  const std::string a = "gemma4.";
  w.SetUint32(a + "context_length", u32(p.n_ctx_train));
  w.SetUint32(a + "embedding_length", u32(p.n_embd));
  w.SetUint32(a + "block_count", u32(p.n_layer));
  if (p.ff_per_layer_key) {
    w.SetInt32Array(a + "feed_forward_length", std::vector<int32_t>(p.n_ff.begin(), p.n_ff.end()));
  } else {
    w.SetUint32(a + "feed_forward_length", u32(p.n_ff[0]));
  }
  w.SetUint32(a + "attention.head_count", u32(p.n_head));
  if (p.head_kv_per_layer_key) {
    w.SetInt32Array(a + "attention.head_count_kv",
                    std::vector<int32_t>(p.n_head_kv.begin(), p.n_head_kv.end()));
  } else {
    w.SetUint32(a + "attention.head_count_kv", u32(p.n_head_kv[0]));
  }
  w.SetFloat32(a + "attention.layer_norm_rms_epsilon", p.rms_eps);
  w.SetUint32(a + "attention.key_length", u32(p.head_dim_global));
  w.SetUint32(a + "attention.value_length", u32(p.head_dim_global));
  w.SetUint32(a + "attention.key_length_swa", u32(p.head_dim));
  w.SetUint32(a + "attention.value_length_swa", u32(p.head_dim));
  w.SetFloat32(a + "rope.freq_base", p.rope_theta);
  w.SetFloat32(a + "rope.freq_base_swa", p.rope_theta_swa);
  w.SetUint32(a + "rope.dimension_count", u32(p.head_dim_global));
  w.SetUint32(a + "rope.dimension_count_swa", u32(p.head_dim));
  w.SetUint32(a + "attention.sliding_window", u32(p.sliding_window));
  w.SetBoolArray(a + "attention.sliding_window_pattern", p.sliding);
  w.SetUint32(a + "attention.shared_kv_layers", u32(p.n_kv_shared));
  w.SetUint32(a + "embedding_length_per_layer_input", u32(p.n_embd_per_layer));
  w.SetFloat32(a + "final_logit_softcapping", p.final_logit_softcapping);
  if (p.n_expert > 0) {
    w.SetUint32(a + "expert_count", u32(p.n_expert));
    w.SetUint32(a + "expert_used_count", u32(p.n_expert_used));
    w.SetUint32(a + "expert_feed_forward_length", u32(p.n_ff_exp));
  }

  if (vocabulary != nullptr) {
    WriteGemma4VocabToGguf(*vocabulary, w);
    return;
  }
  Vocab v = MakeVocab(p.n_vocab);
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetStringArray("tokenizer.ggml.tokens", v.tokens);
  w.SetFloat32Array("tokenizer.ggml.scores", v.scores);
  w.SetInt32Array("tokenizer.ggml.token_type", v.types);
  w.SetUint32("tokenizer.ggml.bos_token_id", 2);
  w.SetUint32("tokenizer.ggml.eos_token_id", 1);
  w.SetUint32("tokenizer.ggml.unknown_token_id", 3);
  w.SetUint32("tokenizer.ggml.padding_token_id", 0);
  w.SetBool("tokenizer.ggml.add_bos_token", true);
  w.SetBool("tokenizer.ggml.add_eos_token", false);
  w.SetBool("tokenizer.ggml.add_space_prefix", false);
}

}  // namespace g4
