// Gemma 4 text decoder. Each block below follows spec/gemma4-text.md §2; the section numbers
// name the part of the spec a function implements. Activations are float32 throughout.
#include "model/gemma4_text.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/error.h"
#include "ops/attention.h"
#include "ops/ops.h"

namespace g4 {

// Activations of one forward pass (the tokens of every sequence in it, one after another) on
// their way through the layers.
struct Gemma4Decoder::Batch {
  std::span<const SequenceStep> steps;
  std::vector<int32_t> tokens;       // [n] (kSoftToken at soft positions)
  std::vector<const float*> soft;    // [n] the embedding row of each soft position, else null
  std::vector<int64_t> pos;          // [n] position of each token in its sequence
  std::vector<int32_t> seq;          // [n] index of each token's step
  std::vector<int64_t> first;        // [steps] index of each step's first token
  // [n] the last position of the bidirectional run a token belongs to (its own position when
  // none): sliding layers let it see keys up to there (spec §4.4).
  std::vector<int64_t> run_end;
  int64_t n = 0;
  std::vector<float> x;              // [n][d] residual stream
  std::vector<float> ple;            // [n][L][P] per-layer inputs (E models)
  // RoPE cos/sin per layer kind: [n][n_rot/2].
  std::vector<float> cos_sliding, sin_sliding, cos_full, sin_full;
  // This pass's post-norm, post-RoPE K and post-norm V for each KV-owning layer: [n][kv_dim].
  // They join the caches only after the whole pass, because KV-shared layers later in the
  // stack read them alongside the older cached entries.
  std::vector<std::vector<float>> k, v;
  std::vector<float> q;              // [n][q_dim] of the layer being evaluated
  // Work buffers the layers of this pass share (slot 0: [n][d] normed input; 1: attention
  // output, FFN gate or PLE gate; 2: [n][d] branch output; 3: FFN up), grown on demand and
  // never cleared: allocating them per layer mapped, faulted in and zero-filled fresh pages
  // each time (about 9% of an E2B pp512 profile).
  std::vector<float> slot[4];
  float* Slot(int i, int64_t size) { return Grow(slot[i], size); }
  // The routed experts' buffers (Experts), kept for the pass in the same way: in a 26B-A4B
  // prefill pass of 512 tokens they are about 115 MB per layer.
  struct ExpertBuffers {
    std::vector<float> router_in, probs, normed, gathered, gate, up, down;
  } experts;
  static float* Grow(std::vector<float>& v, int64_t size) {
    if (v.size() < static_cast<size_t>(size)) {
      // The old contents are not needed: free them first rather than copy them over.
      std::vector<float>().swap(v);
      v.resize(static_cast<size_t>(size));
    }
    return v.data();
  }
};

int DefaultContext(const ModelConfig& c, int requested) {
  if (requested > 0) return std::min(requested, c.context_length > 0 ? c.context_length : requested);
  return std::min(c.context_length > 0 ? c.context_length : 32768, 32768);
}

namespace {

void RopeTables(const RopeSpec& rope, const std::vector<int64_t>& positions, std::vector<float>* cos,
                std::vector<float>* sin) {
  const int half = rope.n_rot / 2;
  const int64_t n = static_cast<int64_t>(positions.size());
  cos->resize(n * half);
  sin->resize(n * half);
  for (int64_t t = 0; t < n; ++t) {
    for (int j = 0; j < half; ++j) {
      const double angle = static_cast<double>(positions[t]) * rope.inv_freq[j];
      (*cos)[t * half + j] = static_cast<float>(std::cos(angle));
      (*sin)[t * half + j] = static_cast<float>(std::sin(angle));
    }
  }
}

}  // namespace

Gemma4Decoder::Gemma4Decoder(const Model& model, int n_threads)
    : model_(model), config_(model.config()), weights_(model.weights()), pool_(n_threads) {}

void Gemma4Decoder::Forward(std::span<const SequenceStep> steps) {
  Batch b;
  b.steps = steps;
  for (size_t s = 0; s < steps.size(); ++s) {
    const SequenceStep& step = steps[s];
    G4_CHECK(step.cache != nullptr, "sequence step without a cache");
    if (step.n <= 0) Fail("no tokens to evaluate");
    const int64_t pos0 = step.cache->n_tokens();
    if (pos0 + step.n > step.cache->max_context()) {
      Fail("sequence of ", pos0 + step.n, " tokens exceeds the context size ", step.cache->max_context());
    }
    for (size_t r = 0; r < s; ++r) G4_CHECK(steps[r].cache != step.cache, "a sequence appears twice in one step");
    b.first.push_back(b.n);
    int64_t soft_rows = 0;
    std::vector<uint8_t> in_run(step.n, 0);
    for (int64_t i = 0; i < step.n; ++i) {
      const int32_t id = step.tokens[i];
      if (id == kSoftToken && step.soft_embeddings != nullptr) {
        in_run[i] = config_.vision_bidirectional && step.soft_bidirectional != nullptr &&
                    step.soft_bidirectional[soft_rows] != 0;
        b.soft.push_back(step.soft_embeddings + soft_rows++ * config_.d_model);
      } else if (id < 0 || id >= config_.vocab_size) {
        Fail("token id ", id, " at index ", i, " is outside the vocabulary [0, ", config_.vocab_size, ")",
             id == kSoftToken ? " (a soft token without embeddings)" : "");
      } else {
        b.soft.push_back(nullptr);
      }
      b.tokens.push_back(id);
      b.pos.push_back(pos0 + i);
      b.seq.push_back(static_cast<int32_t>(s));
    }
    b.run_end.resize(b.n + step.n);
    for (int64_t i = step.n - 1; i >= 0; --i) {
      const bool continues = in_run[i] && i + 1 < step.n && in_run[i + 1];
      b.run_end[b.n + i] = continues ? b.run_end[b.n + i + 1] : pos0 + i;
    }
    b.n += step.n;
  }
  b.k.resize(config_.n_layers);
  b.v.resize(config_.n_layers);
  RopeTables(config_.rope_sliding, b.pos, &b.cos_sliding, &b.sin_sliding);
  RopeTables(config_.rope_full, b.pos, &b.cos_full, &b.sin_full);

  Embed(b);
  if (config_.ple_dim > 0) ComputePerLayerInputs(b);
  for (int l = 0; l < config_.n_layers; ++l) {
    Attention(l, b);
    FeedForward(l, b);
    if (config_.ple_dim > 0) InjectPerLayerInput(l, b);
    // §2.7: the layer scalar multiplies the whole residual stream.
    const float scalar = weights_.layers[l].layer_scalar;
    for (float& value : b.x) value *= scalar;
  }
  for (size_t s = 0; s < steps.size(); ++s) {
    KvCache& cache = *steps[s].cache;
    const int64_t first = b.first[s];
    for (int l = 0; l < config_.n_layers; ++l) {
      if (!config_.layers[l].owns_kv) continue;
      const int64_t kv_dim = static_cast<int64_t>(config_.layers[l].n_kv_heads) * config_.layers[l].head_dim;
      cache.Append(l, &b.k[l][first * kv_dim], &b.v[l][first * kv_dim], steps[s].n, cache.n_tokens());
    }
    cache.CommitTokens(steps[s].n);
  }
  Output(b);
}

// §2.2: x0 = E[token] * sqrt(d). The golden references use the exact float sqrt(d). Soft
// tokens take their encoder embedding unscaled.
void Gemma4Decoder::Embed(Batch& b) const {
  const int64_t d = config_.d_model;
  const float scale = std::sqrt(static_cast<float>(d));
  b.x.resize(b.n * d);
  for (int64_t t = 0; t < b.n; ++t) {
    float* row = &b.x[t * d];
    if (b.soft[t] != nullptr) {
      std::copy_n(b.soft[t], d, row);  // encoder output goes in as it is
      continue;
    }
    DequantizeRow(weights_.token_embd.type, weights_.token_embd.row(b.tokens[t]), row, d);
    for (int64_t i = 0; i < d; ++i) row[i] *= scale;
  }
}

// §2.3: ple[t][l] = (RMSNorm(x0·Wpᵀ / sqrt(d))[l] + Ep[token][l] * sqrt(P)) / sqrt(2).
void Gemma4Decoder::ComputePerLayerInputs(Batch& b) const {
  const int64_t d = config_.d_model;
  const int64_t P = config_.ple_dim;
  const int64_t LP = config_.n_layers * P;
  b.ple.resize(b.n * LP);
  MatMul(b.x.data(), b.n, d, RowsOf(weights_.ple_model_proj), b.ple.data(), LP, &pool_);
  const float proj_scale = 1.0f / std::sqrt(static_cast<float>(d));
  const float token_scale = std::sqrt(static_cast<float>(P));
  const float mix = 1.0f / std::sqrt(2.0f);
  std::vector<float> token_part(LP);
  for (int64_t t = 0; t < b.n; ++t) {
    // Soft positions look up token 0 (spec §4.4); their context part comes from the merged x.
    const int32_t id = b.soft[t] != nullptr ? 0 : b.tokens[t];
    DequantizeRow(weights_.ple_token_embd.type, weights_.ple_token_embd.row(id), token_part.data(), LP);
    float* row = &b.ple[t * LP];
    for (int64_t i = 0; i < LP; ++i) row[i] *= proj_scale;
    for (int l = 0; l < config_.n_layers; ++l) {
      float* slice = row + l * P;
      RmsNorm(slice, weights_.ple_proj_norm.data(), P, config_.rms_eps, slice);
      for (int64_t i = 0; i < P; ++i) slice[i] = (slice[i] + token_part[l * P + i] * token_scale) * mix;
    }
  }
}

// §2.4 attention block, §2.5 RoPE. Scores are q·k with scale 1.0.
void Gemma4Decoder::Attention(int layer, Batch& b) const {
  const LayerSpec& spec = config_.layers[layer];
  const LayerWeights& w = weights_.layers[layer];
  const int64_t d = config_.d_model;
  const int64_t n = b.n;
  const int hd = spec.head_dim;
  const int n_heads = spec.n_heads;
  const int64_t q_dim = static_cast<int64_t>(n_heads) * hd;
  const int64_t kv_dim = static_cast<int64_t>(spec.n_kv_heads) * hd;
  const bool sliding = spec.kind == AttentionKind::kSliding;
  const float* cos = sliding ? b.cos_sliding.data() : b.cos_full.data();
  const float* sin = sliding ? b.sin_sliding.data() : b.sin_full.data();
  const RopeSpec& rope = config_.RopeOf(spec);
  const int half_rot = rope.n_rot / 2;
  const float eps = config_.rms_eps;

  float* h = b.Slot(0, n * d);
  for (int64_t t = 0; t < n; ++t) RmsNorm(&b.x[t * d], w.attn_norm.data(), d, eps, &h[t * d]);

  // Q, K and V projections in one parallel pass.
  std::vector<float>& q = b.q;
  q.resize(n * q_dim);
  MatMulJob qkv[3];
  int n_jobs = 0;
  qkv[n_jobs++] = {h, d, RowsOf(w.wq), q.data(), q_dim};
  if (spec.owns_kv) {
    std::vector<float>& k = b.k[layer];
    std::vector<float>& v = b.v[layer];
    k.resize(n * kv_dim);
    v.resize(n * kv_dim);
    qkv[n_jobs++] = {h, d, RowsOf(w.wk), k.data(), kv_dim};
    if (!spec.keys_as_values) qkv[n_jobs++] = {h, d, RowsOf(w.wv), v.data(), kv_dim};
  }
  MatMulMulti(qkv, n_jobs, n, &pool_);
  for (int64_t t = 0; t < n; ++t) {
    for (int hh = 0; hh < n_heads; ++hh) {
      float* head = &q[t * q_dim + hh * hd];
      RmsNorm(head, w.q_norm.data(), hd, eps, head);
      ApplyRope(head, rope.n_rot, cos + t * half_rot, sin + t * half_rot);
    }
  }

  if (spec.owns_kv) {
    std::vector<float>& k = b.k[layer];
    std::vector<float>& v = b.v[layer];
    if (spec.keys_as_values) v = k;  // V is normalised from the raw K projection, before k_norm and RoPE.
    for (int64_t t = 0; t < n; ++t) {
      for (int kh = 0; kh < spec.n_kv_heads; ++kh) {
        float* kvec = &k[t * kv_dim + kh * hd];
        float* vvec = &v[t * kv_dim + kh * hd];
        RmsNorm(vvec, nullptr, hd, eps, vvec);
        RmsNorm(kvec, w.k_norm.data(), hd, eps, kvec);
        ApplyRope(kvec, rope.n_rot, cos + t * half_rot, sin + t * half_rot);
      }
    }
    // Queries of this pass must see the same numbers later passes will read from the cache.
    for (size_t s = 0; s < b.steps.size(); ++s) {
      const KvCache& cache = *b.steps[s].cache;
      cache.RoundToStorage(&k[b.first[s] * kv_dim], b.steps[s].n, kv_dim);
      cache.RoundToStorage(&v[b.first[s] * kv_dim], b.steps[s].n, kv_dim);
    }
  }

  float* attn_out = b.Slot(1, n * q_dim);
  const int group = n_heads / spec.n_kv_heads;
  pool_.ParallelFor(n * spec.n_kv_heads, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / spec.n_kv_heads;
      const int kv_head = static_cast<int>(job % spec.n_kv_heads);
      const int64_t offset = t * q_dim + static_cast<int64_t>(kv_head) * group * hd;
      AttendKvGroup(b, layer, t, kv_head, &q[offset], &attn_out[offset]);
    }
  });

  float* a = b.Slot(2, n * d);
  MatMul(attn_out, n, q_dim, RowsOf(w.wo), a, d, &pool_);
  for (int64_t t = 0; t < n; ++t) {
    RmsNorm(&a[t * d], w.post_attn_norm.data(), d, eps, &a[t * d]);
    for (int64_t i = 0; i < d; ++i) b.x[t * d + i] += a[t * d + i];
  }
}

// The query heads of token t that share KV head `kv_head`, over the keys they may see: the
// sequence's cached positions, then the positions this pass adds. Keys are visited in position
// order whatever their source, so the result does not depend on how a sequence was split into
// passes or what else was in them.
void Gemma4Decoder::AttendKvGroup(const Batch& b, int layer, int64_t t, int kv_head, const float* q,
                                  float* out) const {
  const LayerSpec& spec = config_.layers[layer];
  const int hd = spec.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(spec.n_kv_heads) * hd;
  const int64_t kv_off = static_cast<int64_t>(kv_head) * hd;
  const int src = spec.kv_source;
  const int s = b.seq[t];
  const KvCache::View cached = b.steps[s].cache->Get(src);
  const size_t cached_off = RowBytes(cached.type, kv_off);
  const int64_t first = b.first[s];
  const int64_t pos0 = b.pos[first];
  const int64_t qpos = b.pos[t];
  const int64_t lo = spec.window > 0 ? std::max<int64_t>(0, qpos - spec.window + 1) : 0;
  // Keys after the query: the rest of its bidirectional run, on sliding layers only, within
  // the window on that side too (JAX masks |q - k| >= window). The run is in this pass.
  int64_t hi = qpos;
  if (spec.kind == AttentionKind::kSliding && b.run_end[t] > qpos) {
    hi = spec.window > 0 ? std::min<int64_t>(b.run_end[t], qpos + spec.window - 1) : b.run_end[t];
  }
  const float* batch_k = b.k[src].data();
  const float* batch_v = b.v[src].data();
  GroupAttention attention(q, spec.n_heads / spec.n_kv_heads, hd);
  const float* k_rows[kAttentionBlock];
  const float* v_rows[kAttentionBlock];
  for (int64_t p0 = lo; p0 <= hi; p0 += kAttentionBlock) {
    const int64_t count = std::min<int64_t>(kAttentionBlock, hi - p0 + 1);
    for (int64_t j = 0; j < count; ++j) {
      const int64_t p = p0 + j;
      if (p >= pos0) {
        const int64_t row = (first + p - pos0) * kv_dim + kv_off;
        k_rows[j] = batch_k + row;
        v_rows[j] = batch_v + row;
        continue;
      }
      const int64_t slot = cached.SlotOf(p);
      G4_CHECK(slot >= 0, "KV cache of layer ", src, " lost position ", p);
      DequantizeRow(cached.type, cached.KeyRow(slot) + cached_off, attention.KeySlot(j), hd);
      DequantizeRow(cached.type, cached.ValueRow(slot) + cached_off, attention.ValueSlot(j), hd);
      k_rows[j] = attention.KeySlot(j);
      v_rows[j] = attention.ValueSlot(j);
    }
    attention.AddBlock(k_rows, v_rows, count);
  }
  attention.Finish(out);
}

// §2.6 dense GeGLU: down · (gelu_tanh(gate·u) ⊙ up·u).
void Gemma4Decoder::DenseMlp(const LayerWeights& w, int ff_dim, const float* in, int64_t n, float* out,
                             Batch& b) const {
  const int64_t d = config_.d_model;
  float* gate = b.Slot(1, n * ff_dim);
  float* up = b.Slot(3, n * ff_dim);
  const MatMulJob jobs[2] = {{in, d, RowsOf(w.ffn_gate), gate, ff_dim}, {in, d, RowsOf(w.ffn_up), up, ff_dim}};
  MatMulMulti(jobs, 2, n, &pool_);
  GeluTanhMul(gate, up, n * ff_dim);
  MatMul(gate, n, ff_dim, RowsOf(w.ffn_down), out, d, &pool_);
}

// §2.6 routed experts: softmax router over all experts, top-k, renormalised, times the
// per-expert scale. Tokens are grouped by expert so each expert's weights are read once.
void Gemma4Decoder::Experts(int layer, const float* residual, int64_t n, float* out, Batch& b) const {
  const LayerWeights& w = weights_.layers[layer];
  const int64_t d = config_.d_model;
  const int E = config_.n_experts;
  const int K = config_.n_experts_used;
  const int64_t I = config_.expert_ff_dim;
  const float eps = config_.rms_eps;

  // Router input: no-scale RMSNorm of the residual, times 1/sqrt(d) and router.scale.
  Batch::ExpertBuffers& buf = b.experts;
  float* g = Batch::Grow(buf.router_in, n * d);
  const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(d));
  for (int64_t t = 0; t < n; ++t) {
    RmsNorm(residual + t * d, nullptr, d, eps, &g[t * d]);
    for (int64_t i = 0; i < d; ++i) g[t * d + i] *= inv_sqrt_d * w.router_scale[i];
  }
  float* probs = Batch::Grow(buf.probs, n * E);
  MatMul(g, n, d, RowsOf(w.router), probs, E, &pool_);

  std::vector<std::vector<std::pair<int64_t, float>>> by_expert(E);  // (token, weight)
  std::vector<int> order(E);
  for (int64_t t = 0; t < n; ++t) {
    float* p = &probs[t * E];
    Softmax(p, E);
    std::iota(order.begin(), order.end(), 0);
    // Highest probability first; equal probabilities keep the lower expert index first.
    std::stable_sort(order.begin(), order.end(), [p](int a, int c) { return p[a] > p[c]; });
    float total = 0;
    for (int k = 0; k < K; ++k) total += p[order[k]];
    for (int k = 0; k < K; ++k) {
      const int e = order[k];
      by_expert[e].push_back({t, p[e] / total * w.expert_scale[e]});
    }
  }

  float* u = Batch::Grow(buf.normed, n * d);
  for (int64_t t = 0; t < n; ++t) RmsNorm(residual + t * d, w.pre_ffw_norm_2.data(), d, eps, &u[t * d]);

  // Experts that received the same number of tokens run together: two parallel passes (gate
  // and up, then down) per group instead of three per expert. In decode every selected
  // expert has one token, so a layer's experts take two passes, reading only their weights.
  struct Routed {
    int e;
    int64_t m, offset;  // tokens and their first row in the packed buffers
  };
  std::vector<Routed> routed;
  int64_t total = 0;
  for (int e = 0; e < E; ++e) {
    if (by_expert[e].empty()) continue;
    routed.push_back({e, static_cast<int64_t>(by_expert[e].size()), total});
    total += static_cast<int64_t>(by_expert[e].size());
  }
  std::stable_sort(routed.begin(), routed.end(), [](const Routed& a, const Routed& c) { return a.m < c.m; });
  float* xin = n == 1 ? nullptr : Batch::Grow(buf.gathered, total * d);
  float* gate = Batch::Grow(buf.gate, total * I);
  float* up = Batch::Grow(buf.up, total * I);
  float* down = Batch::Grow(buf.down, total * d);
  // An expert with one token reads it from u in place (in decode they all share it, so its
  // activations are quantized once); the others get their tokens gathered.
  auto input_of = [&](const Routed& r) -> const float* {
    return r.m == 1 ? &u[by_expert[r.e][0].first * d] : &xin[r.offset * d];
  };
  for (const Routed& r : routed) {
    if (r.m == 1) continue;
    for (int64_t j = 0; j < r.m; ++j) std::copy_n(&u[by_expert[r.e][j].first * d], d, &xin[(r.offset + j) * d]);
  }
  std::vector<MatMulJob> jobs;
  for (size_t g0 = 0; g0 < routed.size();) {
    size_t g1 = g0;
    while (g1 < routed.size() && routed[g1].m == routed[g0].m) ++g1;
    const int64_t m = routed[g0].m;
    jobs.clear();
    for (size_t i = g0; i < g1; ++i) {
      const Routed& r = routed[i];
      const float* x = input_of(r);
      const WeightRows wg = w.fused_gate_up ? RowsOf(w.experts_gate_up, r.e * 2 * I, I) : RowsOf(w.experts_gate, r.e * I, I);
      const WeightRows wu =
          w.fused_gate_up ? RowsOf(w.experts_gate_up, r.e * 2 * I + I, I) : RowsOf(w.experts_up, r.e * I, I);
      jobs.push_back({x, d, wg, &gate[r.offset * I], I});
      jobs.push_back({x, d, wu, &up[r.offset * I], I});
    }
    MatMulMulti(jobs.data(), static_cast<int>(jobs.size()), m, &pool_);
    jobs.clear();
    for (size_t i = g0; i < g1; ++i) {
      const Routed& r = routed[i];
      GeluTanhMul(&gate[r.offset * I], &up[r.offset * I], m * I);
      jobs.push_back({&gate[r.offset * I], I, RowsOf(w.experts_down, r.e * d, d), &down[r.offset * d], d});
    }
    MatMulMulti(jobs.data(), static_cast<int>(jobs.size()), m, &pool_);
    g0 = g1;
  }
  std::fill(out, out + n * d, 0.0f);
  // Sum in expert order, as before, so the result does not depend on the grouping.
  std::stable_sort(routed.begin(), routed.end(), [](const Routed& a, const Routed& c) { return a.e < c.e; });
  for (const Routed& r : routed) {
    for (int64_t j = 0; j < r.m; ++j) {
      const float weight = by_expert[r.e][j].second;
      float* dst = out + by_expert[r.e][j].first * d;
      const float* src = &down[(r.offset + j) * d];
      for (int64_t i = 0; i < d; ++i) dst[i] += weight * src[i];
    }
  }
  for (int64_t t = 0; t < n; ++t) RmsNorm(out + t * d, w.post_ffw_norm_2.data(), d, eps, out + t * d);
}

void Gemma4Decoder::FeedForward(int layer, Batch& b) const {
  const LayerSpec& spec = config_.layers[layer];
  const LayerWeights& w = weights_.layers[layer];
  const int64_t d = config_.d_model;
  const int64_t n = b.n;
  const float eps = config_.rms_eps;

  float* normed = b.Slot(0, n * d);
  float* y = b.Slot(2, n * d);
  for (int64_t t = 0; t < n; ++t) RmsNorm(&b.x[t * d], w.ffn_norm.data(), d, eps, &normed[t * d]);
  DenseMlp(w, spec.ff_dim, normed, n, y, b);
  if (spec.has_moe) {
    // Dense branch gets its own post-norm, then both branches are summed (the experts' sum
    // takes the normed input's slot, free again).
    float* experts = b.Slot(0, n * d);
    Experts(layer, b.x.data(), n, experts, b);
    for (int64_t t = 0; t < n; ++t) {
      RmsNorm(&y[t * d], w.post_ffw_norm_1.data(), d, eps, &y[t * d]);
      for (int64_t i = 0; i < d; ++i) y[t * d + i] += experts[t * d + i];
    }
  }
  for (int64_t t = 0; t < n; ++t) {
    RmsNorm(&y[t * d], w.post_ffw_norm.data(), d, eps, &y[t * d]);
    for (int64_t i = 0; i < d; ++i) b.x[t * d + i] += y[t * d + i];
  }
}

// §2.7: x += RMSNorm(W_proj · (gelu_tanh(W_gate · x) ⊙ ple[l])).
void Gemma4Decoder::InjectPerLayerInput(int layer, Batch& b) const {
  const LayerWeights& w = weights_.layers[layer];
  const int64_t d = config_.d_model;
  const int64_t P = config_.ple_dim;
  const int64_t LP = config_.n_layers * P;
  const int64_t n = b.n;
  float* gate = b.Slot(1, n * P);
  float* proj = b.Slot(2, n * d);
  MatMul(b.x.data(), n, d, RowsOf(w.ple_gate), gate, P, &pool_);
  for (int64_t t = 0; t < n; ++t) {
    GeluTanhMul(&gate[t * P], &b.ple[t * LP + layer * P], P);
  }
  MatMul(gate, n, P, RowsOf(w.ple_proj), proj, d, &pool_);
  for (int64_t t = 0; t < n; ++t) {
    RmsNorm(&proj[t * d], w.ple_post_norm.data(), d, config_.rms_eps, &proj[t * d]);
    for (int64_t i = 0; i < d; ++i) b.x[t * d + i] += proj[t * d + i];
  }
}

// §2.8: logits = c * tanh((RMSNorm(x) · Eᵀ) / c), for the positions each step asked for.
void Gemma4Decoder::Output(Batch& b) const {
  const int64_t d = config_.d_model;
  const int64_t V = config_.vocab_size;
  std::vector<int64_t> rows;
  for (size_t s = 0; s < b.steps.size(); ++s) {
    const SequenceStep& step = b.steps[s];
    if (step.logits == nullptr) continue;
    for (int64_t i = step.all_positions ? 0 : step.n - 1; i < step.n; ++i) rows.push_back(b.first[s] + i);
  }
  if (rows.empty()) return;
  const int64_t m = static_cast<int64_t>(rows.size());
  std::vector<float> h(m * d);
  for (int64_t r = 0; r < m; ++r) RmsNorm(&b.x[rows[r] * d], weights_.output_norm.data(), d, config_.rms_eps, &h[r * d]);
  std::vector<float> all(m * V);
  MatMul(h.data(), m, d, RowsOf(weights_.output), all.data(), V, &pool_);
  if (config_.final_softcap > 0) SoftCap(all.data(), static_cast<int64_t>(all.size()), config_.final_softcap);
  int64_t r = 0;
  for (const SequenceStep& step : b.steps) {
    if (step.logits == nullptr) continue;
    const int64_t count = step.all_positions ? step.n : 1;
    step.logits->assign(all.begin() + r * V, all.begin() + (r + count) * V);
    r += count;
  }
}

Gemma4Session::Gemma4Session(const Model& model, const SessionOptions& options)
    : decoder_(model, options.n_threads),
      cache_(model.config(), DefaultContext(model.config(), options.max_context), options.kv_type) {}

void Gemma4Session::Eval(const int32_t* tokens, int64_t n, bool all_positions, std::vector<float>* logits) {
  const SequenceStep step{&cache_, tokens, n, logits, all_positions};
  decoder_.Forward(std::span<const SequenceStep>(&step, 1));
}

}  // namespace g4
