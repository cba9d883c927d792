// Gemma 4 audio encoder. Each step follows spec/gemma4-io.md §5.2-5.4. Shapes: T mel frames,
// n tokens after subsampling, d width, H heads of hd, C chunk size (12).
#include "model/gemma4_audio.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "base/error.h"
#include "media/log_mel.h"
#include "model/tower_ops.h"
#include "ops/ops.h"

namespace g4 {
namespace {

float Silu(float x) { return x / (1.0f + std::exp(-x)); }
float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// One subsampling step on [T][F][C] (channel fastest): a 3×3 convolution with stride 2 and
// padding 1 over (time, freq), as a PyTorch cross-correlation y[o,t,f] = Σ w[o,c,i,j]·x[c, 2t+i−1,
// 2f+j−1]; then a LayerNorm over the output channels (weight, no bias) and a ReLU. Returns
// [ceil(T/2)][ceil(F/2)][C_out].
std::vector<float> ConvNormRelu(const std::vector<float>& in, int64_t T, int64_t F, int64_t C, const TensorView& w,
                                const std::vector<float>& norm, float eps, ThreadPool* pool, int64_t* T_out,
                                int64_t* F_out) {
  const int64_t To = (T + 1) / 2;
  const int64_t Fo = (F + 1) / 2;
  const int64_t taps = 9 * C;
  const int64_t C_out = w.shape[1];
  std::vector<float> cols(To * Fo * taps, 0.0f);  // im2col: one (in channel, time, freq) row per output
  pool->ParallelFor(To, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t f = 0; f < Fo; ++f) {
        float* col = &cols[(t * Fo + f) * taps];
        for (int64_t i = 0; i < 3; ++i) {
          const int64_t ti = 2 * t + i - 1;
          if (ti < 0 || ti >= T) continue;
          for (int64_t j = 0; j < 3; ++j) {
            const int64_t fj = 2 * f + j - 1;
            if (fj < 0 || fj >= F) continue;
            for (int64_t c = 0; c < C; ++c) col[c * 9 + i * 3 + j] = in[(ti * F + fj) * C + c];
          }
        }
      }
    }
  });
  std::vector<float> out(To * Fo * C_out);
  MatMul(cols.data(), To * Fo, taps, RowsOf(w), out.data(), C_out, pool);
  pool->ParallelFor(To * Fo, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      float* v = &out[p * C_out];
      double mean = 0, var = 0;
      for (int64_t c = 0; c < C_out; ++c) mean += v[c];
      mean /= static_cast<double>(C_out);
      for (int64_t c = 0; c < C_out; ++c) var += (v[c] - mean) * (v[c] - mean);
      const double inv = 1.0 / std::sqrt(var / static_cast<double>(C_out) + eps);
      for (int64_t c = 0; c < C_out; ++c) v[c] = std::max(0.0f, static_cast<float>((v[c] - mean) * inv) * norm[c]);
    }
  });
  *T_out = To;
  *F_out = Fo;
  return out;
}

}  // namespace

Gemma4AudioEncoder::Gemma4AudioEncoder(const AudioTower& tower, int n_threads)
    : c_(tower.config), w_(tower.weights), pool_(n_threads) {
  // §5.3: s(δ) = [sin(δ·τ_i) for i < d/2, cos(δ·τ_i) for i < d/2], τ_i = exp(−i·ln(10⁴)/(d/2 − 1)).
  const int64_t d = c_.d_model;
  const int64_t half = d / 2;
  rel_pos_.resize(c_.chunk_size * d);
  for (int64_t delta = 0; delta < c_.chunk_size; ++delta) {
    for (int64_t i = 0; i < half; ++i) {
      const double tau = std::exp(-static_cast<double>(i) * std::log(1e4) / static_cast<double>(half - 1));
      rel_pos_[delta * d + i] = static_cast<float>(std::sin(static_cast<double>(delta) * tau));
      rel_pos_[delta * d + half + i] = static_cast<float>(std::cos(static_cast<double>(delta) * tau));
    }
  }
}

AudioEmbeddings Gemma4AudioEncoder::Encode(const float* mel, int64_t frames) {
  if (frames <= 0) Fail("audio clip has no log-mel frames (it is shorter than 161 samples, about 10 ms)");
  int64_t n = 0;
  std::vector<float> x = Subsample(mel, frames, &n);  // [n][d]
  const int64_t d = c_.d_model;
  for (const AudioLayerWeights& layer : w_.layers) {
    FeedForward(layer.ffn1, n, x);
    Attention(layer, n, x);
    LightConv(layer, n, x);
    FeedForward(layer.ffn2, n, x);
    NormRows(x.data(), layer.out_norm.data(), n, d, c_.eps, x.data(), &pool_);
  }
  // §5.4: output_proj (with bias), then embed_audio = RMSNorm without weight and the projection.
  const int64_t P = c_.output_dim;
  std::vector<float> y(n * P);
  MatMul(x.data(), n, d, RowsOf(w_.output_proj), y.data(), P, &pool_);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < P; ++i) y[t * P + i] += w_.output_bias[i];
  }
  NormRows(y.data(), nullptr, n, P, c_.eps, y.data(), &pool_);
  AudioEmbeddings out;
  out.n_tokens = n;
  out.width = c_.text_width;
  out.data.resize(n * out.width);
  MatMul(y.data(), n, P, RowsOf(w_.projection), out.data.data(), out.width, &pool_);
  return out;
}

AudioEmbeddings Gemma4AudioEncoder::EncodePcm(const float* pcm, int64_t n_samples) {
  if (c_.n_mel != kMelBins) Fail("the audio tower takes ", c_.n_mel, " mel bins; g4's front end makes ", kMelBins);
  AudioEmbeddings all;
  all.width = c_.text_width;
  for (int64_t start = 0; start < n_samples || start == 0; start += kChunkSamples) {
    const int64_t count = std::min(kChunkSamples, n_samples - start);
    if (start > 0 && LogMelFrames(count) == 0) break;  // a tail under 10 ms makes no frame
    const std::vector<float> mel = LogMel(pcm + start, count);
    AudioEmbeddings part = Encode(mel.data(), LogMelFrames(count));
    all.n_tokens += part.n_tokens;
    all.data.insert(all.data.end(), part.data.begin(), part.data.end());
  }
  return all;
}

// §5.2: two conv + LayerNorm + ReLU steps halve time and frequency, then each time step's
// (freq, channel) values, channel fastest, are projected to the width.
std::vector<float> Gemma4AudioEncoder::Subsample(const float* mel, int64_t frames, int64_t* n_out) {
  std::vector<float> in(mel, mel + frames * c_.n_mel);
  int64_t T1, F1, T2, F2;
  std::vector<float> h1 = ConvNormRelu(in, frames, c_.n_mel, 1, w_.conv0, w_.conv0_norm, c_.eps, &pool_, &T1, &F1);
  std::vector<float> h2 =
      ConvNormRelu(h1, T1, F1, c_.conv0_channels, w_.conv1, w_.conv1_norm, c_.eps, &pool_, &T2, &F2);
  const int64_t flat = F2 * c_.conv1_channels;
  G4_CHECK(flat == w_.input_proj.shape[0], "subsampled width ", flat, " vs input projection ", w_.input_proj.shape[0]);
  std::vector<float> x(T2 * c_.d_model);
  MatMul(h2.data(), T2, flat, RowsOf(w_.input_proj), x.data(), c_.d_model, &pool_);
  *n_out = T2;
  return x;
}

// §5.3 steps 1 and 4: x += ½·RMSNorm_post(down(silu(up(RMSNorm_pre(x))))).
void Gemma4AudioEncoder::FeedForward(const AudioFfnWeights& w, int64_t n, std::vector<float>& x) {
  const int64_t d = c_.d_model;
  const int64_t ff = c_.ff_dim;
  std::vector<float> u(n * d), h(n * ff);
  NormRows(x.data(), w.pre_norm.data(), n, d, c_.eps, u.data(), &pool_);
  ClippedLinears(u.data(), n, {{&w.up, h.data()}}, &pool_);
  for (float& value : h) value = Silu(value);
  ClippedLinears(h.data(), n, {{&w.down, u.data()}}, &pool_);
  NormRows(u.data(), w.post_norm.data(), n, d, c_.eps, u.data(), &pool_);
  for (int64_t i = 0; i < n * d; ++i) x[i] += 0.5f * u[i];
}

// §5.3 step 2: local self-attention. Query t sees keys t − C + 1 … t (those that exist), with
// logit q_h·k_h + q_h·relk_h(t − s), softcapped; q is scaled by hd^(−½)/ln 2·softplus(per_dim_scale),
// k by ln(1 + e)/ln 2 (relk is not).
void Gemma4AudioEncoder::Attention(const AudioLayerWeights& w, int64_t n, std::vector<float>& x) {
  const int64_t d = c_.d_model;
  const int64_t hd = c_.head_dim;
  const int64_t C = c_.chunk_size;
  std::vector<float> h(n * d), q(n * d), k(n * d), v(n * d), rel_k(C * d);
  NormRows(x.data(), w.attn_pre_norm.data(), n, d, c_.eps, h.data(), &pool_);
  ClippedLinears(h.data(), n, {{&w.q, q.data()}, {&w.k, k.data()}, {&w.v, v.data()}}, &pool_);
  MatMul(rel_pos_.data(), C, d, RowsOf(w.k_rel), rel_k.data(), d, &pool_);
  const float ln2 = std::numbers::ln2_v<float>;
  const float key_scale = std::log1p(std::numbers::e_v<float>) / ln2;
  std::vector<float> query_scale(hd);
  for (int64_t i = 0; i < hd; ++i) query_scale[i] = w.per_dim_scale[i] / std::sqrt(static_cast<float>(hd)) / ln2;
  pool_.ParallelFor(n, [&](int64_t begin, int64_t end) {
    std::vector<float> qs(hd), p(C);
    for (int64_t t = begin; t < end; ++t) {
      const int64_t first = std::max<int64_t>(0, t - C + 1);
      const int64_t count = t - first + 1;
      for (int64_t head = 0; head < c_.n_heads; ++head) {
        const int64_t off = head * hd;
        for (int64_t i = 0; i < hd; ++i) qs[i] = q[t * d + off + i] * query_scale[i];
        for (int64_t s = first; s <= t; ++s) {
          const float logit = Dot(qs.data(), &k[s * d + off], hd) * key_scale + Dot(qs.data(), &rel_k[(t - s) * d + off], hd);
          p[s - first] = c_.logit_cap * std::tanh(logit / c_.logit_cap);
        }
        Softmax(p.data(), count);
        float* o = &h[t * d + off];
        std::fill(o, o + hd, 0.0f);
        for (int64_t s = first; s <= t; ++s) {
          for (int64_t i = 0; i < hd; ++i) o[i] += p[s - first] * v[s * d + off + i];
        }
      }
    }
  });
  ClippedLinears(h.data(), n, {{&w.o, q.data()}}, &pool_);
  NormRows(q.data(), w.attn_post_norm.data(), n, d, c_.eps, q.data(), &pool_);
  for (int64_t i = 0; i < n * d; ++i) x[i] += q[i];
}

// §5.3 step 3: x += end(silu(RMSNorm_conv(DWConv(GLU(start(RMSNorm(x))))))), the depthwise
// conv causal: y[t] = Σ_j w[j]·a[t − K + 1 + j].
void Gemma4AudioEncoder::LightConv(const AudioLayerWeights& w, int64_t n, std::vector<float>& x) {
  const int64_t d = c_.d_model;
  const int64_t K = c_.conv_kernel;
  std::vector<float> u(n * d), g(n * 2 * d), a(n * d);
  NormRows(x.data(), w.conv_pre_norm.data(), n, d, c_.eps, u.data(), &pool_);
  ClippedLinears(u.data(), n, {{&w.conv_start, g.data()}}, &pool_);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t c = 0; c < d; ++c) a[t * d + c] = g[t * 2 * d + c] * Sigmoid(g[t * 2 * d + d + c]);
  }
  pool_.ParallelFor(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t c = 0; c < d; ++c) {
        float sum = 0;
        for (int64_t j = 0; j < K; ++j) {
          const int64_t s = t - K + 1 + j;
          if (s >= 0) sum += w.conv_dw[c * K + j] * a[s * d + c];
        }
        u[t * d + c] = sum;
      }
    }
  });
  NormRows(u.data(), w.conv_norm.data(), n, d, c_.eps, u.data(), &pool_);
  for (float& value : u) value = Silu(value);
  ClippedLinears(u.data(), n, {{&w.conv_end, a.data()}}, &pool_);
  for (int64_t i = 0; i < n * d; ++i) x[i] += a[i];
}

}  // namespace g4
