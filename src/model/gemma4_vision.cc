// Gemma 4 vision encoder. Each step follows spec/gemma4-io.md §4.3; the step numbers below are
// the spec's. Shapes: n patches, d width, H heads of hd, ff MLP width, N soft tokens.
#include "model/gemma4_vision.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "model/tower_ops.h"
#include "ops/ops.h"

namespace g4 {

// The patch grid of one image: patch t sits at column x = t mod pw, row y = t div pw.
// RoPE tables hold cos/sin of position·ω_j for the hd/4 frequencies of one half-head.
struct Gemma4VisionEncoder::Grid {
  int64_t pw = 0, ph = 0, n = 0;
  int64_t n_freq = 0;
  std::vector<float> cos_x, sin_x;  // [pw][n_freq]
  std::vector<float> cos_y, sin_y;  // [ph][n_freq]
};

namespace {

// Queries attended at once: bounds the score buffer to kQueryBlock × n floats.
constexpr int64_t kQueryBlock = 256;

// ω_j = θ^(−2j/half) for j < half/2, over positions [0, count).
void RopeTable(int64_t count, int64_t half, double theta, std::vector<float>* cos, std::vector<float>* sin) {
  const int64_t n_freq = half / 2;
  cos->resize(count * n_freq);
  sin->resize(count * n_freq);
  for (int64_t p = 0; p < count; ++p) {
    for (int64_t j = 0; j < n_freq; ++j) {
      const double angle = static_cast<double>(p) * std::pow(theta, -2.0 * static_cast<double>(j) / half);
      (*cos)[p * n_freq + j] = static_cast<float>(std::cos(angle));
      (*sin)[p * n_freq + j] = static_cast<float>(std::sin(angle));
    }
  }
}

}  // namespace

Gemma4VisionEncoder::Gemma4VisionEncoder(const VisionTower& tower, int n_threads)
    : c_(tower.config), w_(tower.weights), pool_(n_threads) {}

VisionEmbeddings Gemma4VisionEncoder::Encode(const Image& image) {
  const int64_t p = c_.patch_size;
  const int64_t k = c_.pooling;
  const int64_t multiple = side_multiple();
  if (image.width <= 0 || image.height <= 0 || image.width % multiple != 0 || image.height % multiple != 0) {
    Fail("image of ", image.width, "x", image.height, " pixels: encoding as is needs both sides to be positive ",
         "multiples of ", multiple, " (patch ", p, " x pooling ", k, ")");
  }
  G4_CHECK(image.rgb.size() == static_cast<size_t>(image.width) * image.height * 3, "image buffer size");
  Grid g;
  g.pw = image.width / p;
  g.ph = image.height / p;
  g.n = g.pw * g.ph;
  if (g.pw > c_.position_table_size || g.ph > c_.position_table_size) {
    Fail("image of ", image.width, "x", image.height, " pixels has a ", g.pw, "x", g.ph, " patch grid; the tower's ",
         "position tables cover ", c_.position_table_size, " patches per side");
  }
  const int64_t half = c_.head_dim / 2;
  g.n_freq = half / 2;
  RopeTable(g.pw, half, c_.rope_theta, &g.cos_x, &g.sin_x);
  RopeTable(g.ph, half, c_.rope_theta, &g.cos_y, &g.sin_y);

  std::vector<float> x = EmbedPatches(image, g);  // [n][d]
  for (const VisionLayerWeights& layer : w_.layers) {
    Attention(layer, g, x);
    FeedForward(layer, g, x);
  }
  std::vector<float> pooled = Pool(g, x);  // [N][d]

  VisionEmbeddings out;
  out.grid_w = g.pw / k;
  out.grid_h = g.ph / k;
  out.n_tokens = out.grid_w * out.grid_h;
  out.width = c_.text_width;
  const int64_t d = c_.d_model;
  // Step 8: standardize (large towers).
  if (c_.standardize) {
    for (int64_t t = 0; t < out.n_tokens; ++t) {
      for (int64_t i = 0; i < d; ++i) pooled[t * d + i] = (pooled[t * d + i] - w_.std_bias[i]) * w_.std_scale[i];
    }
  }
  // Step 9: embed_vision = RMSNorm without weight, then the projection to the text width.
  NormRows(pooled.data(), nullptr, out.n_tokens, d, c_.eps, pooled.data(), &pool_);
  out.data.resize(out.n_tokens * out.width);
  MatMul(pooled.data(), out.n_tokens, d, RowsOf(w_.projection), out.data.data(), out.width, &pool_);
  return out;
}

// Steps 1-3: pixels to [−1, 1], one patch per row in the weight's value order, the patch
// linear, then the x (column) and y (row) position rows added.
std::vector<float> Gemma4VisionEncoder::EmbedPatches(const Image& image, const Grid& g) {
  const int64_t p = c_.patch_size;
  const int64_t in = 3 * p * p;
  const int64_t d = c_.d_model;
  const bool channel_first = c_.patch_layout == PatchLayout::kChannelRowCol;
  std::vector<float> patches(g.n * in);
  pool_.ParallelFor(g.n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t px = t % g.pw;
      const int64_t py = t / g.pw;
      float* row = &patches[t * in];
      for (int64_t r = 0; r < p; ++r) {
        for (int64_t col = 0; col < p; ++col) {
          const uint8_t* rgb = image.pixel(static_cast<int>(px * p + col), static_cast<int>(py * p + r));
          for (int64_t ch = 0; ch < 3; ++ch) {
            const int64_t i = channel_first ? (ch * p + r) * p + col : (r * p + col) * 3 + ch;
            row[i] = 2.0f * (static_cast<float>(rgb[ch]) / 255.0f) - 1.0f;
          }
        }
      }
    }
  });
  std::vector<float> x(g.n * d);
  MatMul(patches.data(), g.n, in, RowsOf(w_.patch_embd), x.data(), d, &pool_);

  const TensorView& table = w_.position_table;
  const int64_t P = c_.position_table_size;
  pool_.ParallelFor(g.n, [&](int64_t begin, int64_t end) {
    std::vector<float> pos_x(d), pos_y(d);
    for (int64_t t = begin; t < end; ++t) {
      DequantizeRow(table.type, table.row(t % g.pw), pos_x.data(), d);
      DequantizeRow(table.type, table.row(P + t / g.pw), pos_y.data(), d);
      for (int64_t i = 0; i < d; ++i) x[t * d + i] += pos_x[i] + pos_y[i];
    }
  });
  return x;
}

// Step 4, first half: x += RMSNorm_post_attn(o(Attn(RMSNorm_in(x)))), with step 5's attention:
// q/k norms with weights, v norm without, 2-D RoPE on q and k, scale 1, every patch sees every
// patch.
void Gemma4VisionEncoder::Attention(const VisionLayerWeights& w, const Grid& g, std::vector<float>& x) {
  const int64_t n = g.n;
  const int64_t d = c_.d_model;
  const int64_t hd = c_.head_dim;
  const int64_t half = hd / 2;
  std::vector<float> h(n * d), q(n * d), k(n * d), v(n * d);
  NormRows(x.data(), w.input_norm.data(), n, d, c_.eps, h.data(), &pool_);
  ClippedLinears(h.data(), n, {{&w.q, q.data()}, {&w.k, k.data()}, {&w.v, v.data()}}, &pool_);
  pool_.ParallelFor(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      // The first half of each head turns with the patch's column, the second with its row.
      const float* cos_x = &g.cos_x[(t % g.pw) * g.n_freq];
      const float* sin_x = &g.sin_x[(t % g.pw) * g.n_freq];
      const float* cos_y = &g.cos_y[(t / g.pw) * g.n_freq];
      const float* sin_y = &g.sin_y[(t / g.pw) * g.n_freq];
      for (int64_t head = 0; head < c_.n_heads; ++head) {
        float* qh = &q[t * d + head * hd];
        float* kh = &k[t * d + head * hd];
        float* vh = &v[t * d + head * hd];
        RmsNorm(qh, w.q_norm.data(), hd, c_.eps, qh);
        RmsNorm(kh, w.k_norm.data(), hd, c_.eps, kh);
        RmsNorm(vh, nullptr, hd, c_.eps, vh);
        for (float* rotated : {qh, kh}) {
          ApplyRope(rotated, static_cast<int>(half), cos_x, sin_x);
          ApplyRope(rotated + half, static_cast<int>(half), cos_y, sin_y);
        }
      }
    }
  });
  AttendHeads(g, q, k, v, h);  // h now holds the attention output
  ClippedLinears(h.data(), n, {{&w.o, q.data()}}, &pool_);
  NormRows(q.data(), w.post_attn_norm.data(), n, d, c_.eps, q.data(), &pool_);
  for (int64_t i = 0; i < n * d; ++i) x[i] += q[i];
}

// softmax(q·kᵀ)·v per head, a block of queries at a time: the keys of the head, contiguous,
// serve as the weight rows of one product and the transposed values as those of the next.
void Gemma4VisionEncoder::AttendHeads(const Grid& g, const std::vector<float>& q, const std::vector<float>& k,
                                      const std::vector<float>& v, std::vector<float>& out) {
  const int64_t n = g.n;
  const int64_t d = c_.d_model;
  const int64_t hd = c_.head_dim;
  std::vector<float> keys(n * hd), values_t(hd * n), scores(std::min(n, kQueryBlock) * n);
  const WeightRows key_rows{DType::kF32, reinterpret_cast<const uint8_t*>(keys.data()), hd * sizeof(float), hd, n};
  const WeightRows value_rows{DType::kF32, reinterpret_cast<const uint8_t*>(values_t.data()), n * sizeof(float), n,
                              hd};
  for (int64_t head = 0; head < c_.n_heads; ++head) {
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < hd; ++i) {
        keys[t * hd + i] = k[t * d + head * hd + i];
        values_t[i * n + t] = v[t * d + head * hd + i];
      }
    }
    for (int64_t q0 = 0; q0 < n; q0 += kQueryBlock) {
      const int64_t count = std::min(kQueryBlock, n - q0);
      MatMul(&q[q0 * d + head * hd], count, d, key_rows, scores.data(), n, &pool_);
      pool_.ParallelFor(count, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) Softmax(&scores[r * n], n);
      });
      MatMul(scores.data(), count, n, value_rows, &out[q0 * d + head * hd], d, &pool_);
    }
  }
}

// Step 4, second half: x += RMSNorm_post_ffw(down(gelu_tanh(gate(u)) ⊙ up(u))), u = RMSNorm_pre_ffw(x).
void Gemma4VisionEncoder::FeedForward(const VisionLayerWeights& w, const Grid& g, std::vector<float>& x) {
  const int64_t n = g.n;
  const int64_t d = c_.d_model;
  const int64_t ff = c_.ff_dim;
  std::vector<float> u(n * d), gate(n * ff), up(n * ff);
  NormRows(x.data(), w.pre_ffw_norm.data(), n, d, c_.eps, u.data(), &pool_);
  ClippedLinears(u.data(), n, {{&w.gate, gate.data()}, {&w.up, up.data()}}, &pool_);
  pool_.ParallelFor(n, [&](int64_t begin, int64_t end) {
    GeluTanhMul(&gate[begin * ff], &up[begin * ff], (end - begin) * ff);
  });
  ClippedLinears(gate.data(), n, {{&w.down, u.data()}}, &pool_);
  NormRows(u.data(), w.post_ffw_norm.data(), n, d, c_.eps, u.data(), &pool_);
  for (int64_t i = 0; i < n * d; ++i) x[i] += u[i];
}

// Step 7: average each k×k block of patches into one soft token (row-major over the pooled
// grid), then multiply by √d.
std::vector<float> Gemma4VisionEncoder::Pool(const Grid& g, const std::vector<float>& x) const {
  const int64_t k = c_.pooling;
  const int64_t d = c_.d_model;
  const int64_t gw = g.pw / k;
  const int64_t gh = g.ph / k;
  const float scale = std::sqrt(static_cast<float>(d)) / static_cast<float>(k * k);
  std::vector<float> out(gw * gh * d, 0.0f);
  for (int64_t t = 0; t < g.n; ++t) {
    const int64_t token = (t / g.pw / k) * gw + (t % g.pw) / k;
    for (int64_t i = 0; i < d; ++i) out[token * d + i] += x[t * d + i];
  }
  for (float& value : out) value *= scale;
  return out;
}

}  // namespace g4
