#include "model/weights.h"

#include "base/error.h"

namespace g4 {

std::vector<float> TensorToFloats(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  const int64_t row = t.shape.empty() ? 1 : t.shape[0];
  for (int64_t r = 0; r < t.n_rows(); ++r) DequantizeRow(t.type, t.row(r), out.data() + r * row, row);
  return out;
}

namespace {

enum class Role {
  kAttnNorm, kWq, kWk, kWv, kWo, kQNorm, kKNorm, kPostAttnNorm,
  kFfnNorm, kFfnGate, kFfnUp, kFfnDown, kPostFfwNorm, kLayerScalar,
  kPleGate, kPleProj, kPlePostNorm,
  kRouter, kRouterScale, kExpertScale, kPreFfwNorm2, kPostFfwNorm1, kPostFfwNorm2,
  kExpertsGateUp, kExpertsGate, kExpertsUp, kExpertsDown,
};

struct RoleNames {
  Role role;
  const char* gguf;  // after "blk.N."
  const char* hf;    // after "<prefix>layers.N."
};

constexpr RoleNames kRoleNames[] = {
    {Role::kAttnNorm, "attn_norm.weight", "input_layernorm.weight"},
    {Role::kWq, "attn_q.weight", "self_attn.q_proj.weight"},
    {Role::kWk, "attn_k.weight", "self_attn.k_proj.weight"},
    {Role::kWv, "attn_v.weight", "self_attn.v_proj.weight"},
    {Role::kWo, "attn_output.weight", "self_attn.o_proj.weight"},
    {Role::kQNorm, "attn_q_norm.weight", "self_attn.q_norm.weight"},
    {Role::kKNorm, "attn_k_norm.weight", "self_attn.k_norm.weight"},
    {Role::kPostAttnNorm, "post_attention_norm.weight", "post_attention_layernorm.weight"},
    {Role::kFfnNorm, "ffn_norm.weight", "pre_feedforward_layernorm.weight"},
    {Role::kFfnGate, "ffn_gate.weight", "mlp.gate_proj.weight"},
    {Role::kFfnUp, "ffn_up.weight", "mlp.up_proj.weight"},
    {Role::kFfnDown, "ffn_down.weight", "mlp.down_proj.weight"},
    {Role::kPostFfwNorm, "post_ffw_norm.weight", "post_feedforward_layernorm.weight"},
    {Role::kLayerScalar, "layer_output_scale.weight", "layer_scalar"},
    {Role::kPleGate, "inp_gate.weight", "per_layer_input_gate.weight"},
    {Role::kPleProj, "proj.weight", "per_layer_projection.weight"},
    {Role::kPlePostNorm, "post_norm.weight", "post_per_layer_input_norm.weight"},
    {Role::kRouter, "ffn_gate_inp.weight", "router.proj.weight"},
    {Role::kRouterScale, "ffn_gate_inp.scale", "router.scale"},
    {Role::kExpertScale, "ffn_down_exps.scale", "router.per_expert_scale"},
    {Role::kPreFfwNorm2, "pre_ffw_norm_2.weight", "pre_feedforward_layernorm_2.weight"},
    {Role::kPostFfwNorm1, "post_ffw_norm_1.weight", "post_feedforward_layernorm_1.weight"},
    {Role::kPostFfwNorm2, "post_ffw_norm_2.weight", "post_feedforward_layernorm_2.weight"},
    {Role::kExpertsGateUp, "ffn_gate_up_exps.weight", "experts.gate_up_proj"},
    {Role::kExpertsGate, "ffn_gate_exps.weight", "experts.gate_proj"},
    {Role::kExpertsUp, "ffn_up_exps.weight", "experts.up_proj"},
    {Role::kExpertsDown, "ffn_down_exps.weight", "experts.down_proj"},
};

std::string ShapeString(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Shapes match when equal after dropping trailing 1s ({d} == {d, 1}).
bool SameShape(std::vector<int64_t> a, std::vector<int64_t> b) {
  while (!a.empty() && a.back() == 1) a.pop_back();
  while (!b.empty() && b.back() == 1) b.pop_back();
  return a == b;
}

class Binder {
 public:
  Binder(const TensorLookup& find, bool hf, std::string prefix, std::string where)
      : find_(find), hf_(hf), prefix_(std::move(prefix)), where_(std::move(where)) {}

  std::string GlobalName(const char* gguf, const char* hf) const { return hf_ ? prefix_ + hf : gguf; }
  std::string LayerName(Role role, int layer) const {
    for (const RoleNames& r : kRoleNames) {
      if (r.role == role) {
        return hf_ ? Concat(prefix_, "layers.", layer, ".", r.hf) : Concat("blk.", layer, ".", r.gguf);
      }
    }
    G4_CHECK(false, "unknown role");
  }

  const TensorView* Find(const std::string& name) const { return find_(name); }

  TensorView Require(const std::string& name, const std::vector<int64_t>& shape, const std::string& why) const {
    const TensorView* t = find_(name);
    if (t == nullptr) Fail(where_, ": tensor '", name, "' is missing (", why, ")");
    Check(*t, shape, why);
    return *t;
  }
  TensorView Optional(const std::string& name, const std::vector<int64_t>& shape, const std::string& why) const {
    const TensorView* t = find_(name);
    if (t == nullptr) return TensorView{};
    Check(*t, shape, why);
    return *t;
  }
  std::vector<float> RequireVector(const std::string& name, int64_t n, const std::string& why) const {
    return TensorToFloats(Require(name, {n}, why));
  }
  std::vector<float> OptionalVector(const std::string& name, int64_t n, const std::string& why) const {
    TensorView t = Optional(name, {n}, why);
    return t.data == nullptr ? std::vector<float>{} : TensorToFloats(t);
  }

 private:
  void Check(const TensorView& t, const std::vector<int64_t>& shape, const std::string& why) const {
    if (!SameShape(t.shape, shape)) {
      Fail(where_, ": tensor '", t.name, "' has shape ", ShapeString(t.shape), ", expected ", ShapeString(shape),
           " (", why, "; shapes in ggml order, contiguous dimension first)");
    }
    if (!Info(t.type).can_dequantize) {
      Fail(where_, ": tensor '", t.name, "' has type ", DTypeName(t.type), ", which g4 cannot compute with yet");
    }
  }

  const TensorLookup& find_;
  bool hf_;
  std::string prefix_;
  std::string where_;
};

ModelWeights Bind(const Binder& b, bool hf, ModelConfig* config, const std::string& where) {
  ModelConfig& c = *config;
  ModelWeights w;
  const int64_t d = c.d_model;

  const std::string embd_name = b.GlobalName("token_embd.weight", "embed_tokens.weight");
  const TensorView* embd = b.Find(embd_name);
  if (embd == nullptr) Fail(where, ": tensor '", embd_name, "' is missing (token embeddings)");
  if (embd->shape.size() != 2 || embd->shape[0] != d) {
    Fail(where, ": tensor '", embd_name, "' has shape ", embd->shape_string(), ", expected [", d, ", vocab]");
  }
  if (hf && c.vocab_size != embd->shape[1]) {
    Fail(where, ": tensor '", embd_name, "' has ", embd->shape[1], " rows but vocab_size is ", c.vocab_size);
  }
  c.vocab_size = static_cast<int>(embd->shape[1]);
  const int64_t V = c.vocab_size;
  w.token_embd = b.Require(embd_name, {d, V}, "token embeddings");
  w.output = b.Optional(b.GlobalName("output.weight", "lm_head.weight"), {d, V}, "output head");
  if (w.output.data == nullptr) w.output = w.token_embd;  // tied
  w.output_norm = b.RequireVector(b.GlobalName("output_norm.weight", "norm.weight"), d, "final norm");

  const int64_t L = c.n_layers;
  const int64_t P = c.ple_dim;
  if (P > 0) {
    w.ple_token_embd = b.Require(b.GlobalName("per_layer_token_embd.weight", "embed_tokens_per_layer.weight"),
                                 {L * P, V}, "per-layer token embeddings");
    w.ple_model_proj = b.Require(b.GlobalName("per_layer_model_proj.weight", "per_layer_model_projection.weight"),
                                 {d, L * P}, "per-layer model projection");
    w.ple_proj_norm = b.RequireVector(b.GlobalName("per_layer_proj_norm.weight", "per_layer_projection_norm.weight"),
                                      P, "per-layer projection norm");
  }

  w.layers.resize(c.n_layers);
  for (int i = 0; i < c.n_layers; ++i) {
    LayerSpec& spec = c.layers[i];
    LayerWeights& lw = w.layers[i];
    const int64_t hd = spec.head_dim;
    const int64_t q_dim = spec.n_heads * hd;
    const int64_t kv_dim = spec.n_kv_heads * hd;
    const std::string attn_why = Concat("layer ", i, ": ", AttentionKindName(spec.kind), " attention, ", spec.n_heads,
                                        " query heads, ", spec.n_kv_heads, " KV heads of ", hd);
    auto name = [&](Role r) { return b.LayerName(r, i); };

    lw.attn_norm = b.RequireVector(name(Role::kAttnNorm), d, attn_why);
    lw.wq = b.Require(name(Role::kWq), {d, q_dim}, attn_why);
    lw.q_norm = b.RequireVector(name(Role::kQNorm), hd, attn_why);
    lw.wo = b.Require(name(Role::kWo), {q_dim, d}, attn_why);
    lw.post_attn_norm = b.RequireVector(name(Role::kPostAttnNorm), d, attn_why);
    if (spec.owns_kv) {
      lw.wk = b.Require(name(Role::kWk), {d, kv_dim}, attn_why);
      lw.k_norm = b.RequireVector(name(Role::kKNorm), hd, attn_why);
      if (hf) {
        if (!spec.keys_as_values) lw.wv = b.Require(name(Role::kWv), {d, kv_dim}, attn_why);
      } else {
        lw.wv = b.Optional(name(Role::kWv), {d, kv_dim}, attn_why);
        spec.keys_as_values = lw.wv.data == nullptr;
      }
    }
    // KV-shared layers may carry unused K/V weights (official checkpoints do); they are ignored.

    const std::string ffn_why = Concat("layer ", i, ": feed-forward width ", spec.ff_dim);
    lw.ffn_norm = b.RequireVector(name(Role::kFfnNorm), d, ffn_why);
    lw.ffn_gate = b.Require(name(Role::kFfnGate), {d, spec.ff_dim}, ffn_why);
    lw.ffn_up = b.Require(name(Role::kFfnUp), {d, spec.ff_dim}, ffn_why);
    lw.ffn_down = b.Require(name(Role::kFfnDown), {spec.ff_dim, d}, ffn_why);
    lw.post_ffw_norm = b.RequireVector(name(Role::kPostFfwNorm), d, ffn_why);
    std::vector<float> scalar = b.OptionalVector(name(Role::kLayerScalar), 1, "layer scalar");
    lw.layer_scalar = scalar.empty() ? 1.0f : scalar[0];

    if (P > 0) {
      const std::string why = Concat("layer ", i, ": per-layer input width ", P);
      lw.ple_gate = b.Require(name(Role::kPleGate), {d, P}, why);
      lw.ple_proj = b.Require(name(Role::kPleProj), {P, d}, why);
      lw.ple_post_norm = b.RequireVector(name(Role::kPlePostNorm), d, why);
    }

    if (spec.has_moe) {
      const int64_t E = c.n_experts;
      const int64_t I = c.expert_ff_dim;
      const std::string why = Concat("layer ", i, ": ", E, " experts of width ", I);
      lw.router = b.Require(name(Role::kRouter), {d, E}, why);
      lw.router_scale = b.RequireVector(name(Role::kRouterScale), d, why);
      lw.expert_scale = b.OptionalVector(name(Role::kExpertScale), E, why);
      if (lw.expert_scale.empty()) lw.expert_scale.assign(E, 1.0f);
      lw.pre_ffw_norm_2 = b.RequireVector(name(Role::kPreFfwNorm2), d, why);
      lw.post_ffw_norm_1 = b.RequireVector(name(Role::kPostFfwNorm1), d, why);
      lw.post_ffw_norm_2 = b.RequireVector(name(Role::kPostFfwNorm2), d, why);
      if (b.Find(name(Role::kExpertsGateUp)) != nullptr) {
        lw.fused_gate_up = true;
        lw.experts_gate_up = b.Require(name(Role::kExpertsGateUp), {d, 2 * I, E}, why);
      } else {
        lw.fused_gate_up = false;
        if (b.Find(name(Role::kExpertsGate)) == nullptr) {
          Fail(where, ": tensor '", name(Role::kExpertsGateUp), "' is missing (", why, ")");
        }
        lw.experts_gate = b.Require(name(Role::kExpertsGate), {d, I, E}, why);
        lw.experts_up = b.Require(name(Role::kExpertsUp), {d, I, E}, why);
      }
      lw.experts_down = b.Require(name(Role::kExpertsDown), {I, d, E}, why);
    }
  }
  return w;
}

}  // namespace

ModelWeights BindGgufWeights(const TensorLookup& find, ModelConfig* config, const std::string& where) {
  Binder b(find, /*hf=*/false, "", where);
  return Bind(b, false, config, where);
}

ModelWeights BindHfWeights(const TensorLookup& find, const std::string& prefix, ModelConfig* config,
                           const std::string& where) {
  Binder b(find, /*hf=*/true, prefix, where);
  return Bind(b, true, config, where);
}

}  // namespace g4
