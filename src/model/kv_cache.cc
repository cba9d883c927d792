#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"

namespace g4 {

KvCache::KvCache(const ModelConfig& config, int max_context) : max_context_(max_context) {
  layers_.resize(config.n_layers);
  for (int i = 0; i < config.n_layers; ++i) {
    const LayerSpec& spec = config.layers[i];
    LayerCache& c = layers_[i];
    c.owns = spec.owns_kv;
    if (!c.owns) continue;
    c.kv_dim = static_cast<int64_t>(spec.n_kv_heads) * spec.head_dim;
    c.ring = spec.window > 0 && spec.window < max_context;
    c.capacity = c.ring ? spec.window : max_context;
    if (c.ring) {
      c.k.assign(c.capacity * c.kv_dim, 0.0f);
      c.v.assign(c.capacity * c.kv_dim, 0.0f);
      c.pos.assign(c.capacity, -1);
      c.used = c.capacity;
    }
  }
}

KvCache::View KvCache::Get(int layer) const {
  const LayerCache& c = layers_[layer];
  G4_CHECK(c.owns, "layer ", layer, " has no cache of its own");
  View v;
  v.k = c.k.data();
  v.v = c.v.data();
  v.pos = c.pos.data();
  v.n = c.used;
  v.kv_dim = c.kv_dim;
  v.ring = c.ring;
  return v;
}

bool KvCache::CanTruncateTo(int64_t n) const {
  if (n < 0 || n > n_tokens_) return false;
  if (n == n_tokens_) return true;
  for (const LayerCache& c : layers_) {
    if (!c.owns || !c.ring) continue;
    // The positions a query at n would see: [n - window, n) = [n - capacity, n).
    for (int64_t p = std::max<int64_t>(0, n - c.capacity); p < n; ++p) {
      if (c.pos[RingSlot(p, c.capacity)] != p) return false;
    }
  }
  return true;
}

void KvCache::TruncateTo(int64_t n) {
  G4_CHECK(CanTruncateTo(n), "the KV cache cannot be rewound from ", n_tokens_, " to ", n, " tokens");
  for (LayerCache& c : layers_) {
    if (!c.owns) continue;
    if (c.ring) {
      for (int32_t& p : c.pos) {
        if (p >= n) p = -1;
      }
    } else {
      c.used = std::min(c.used, n);
    }
  }
  n_tokens_ = n;
}

size_t KvCache::Checkpoint::bytes() const {
  size_t total = 0;
  for (size_t i = 0; i < k.size(); ++i) total += (k[i].size() + v[i].size()) * sizeof(float) + pos[i].size() * 4;
  return total;
}

KvCache::Checkpoint KvCache::MakeCheckpoint() const {
  Checkpoint cp;
  cp.n_tokens = n_tokens_;
  cp.k.resize(layers_.size());
  cp.v.resize(layers_.size());
  cp.pos.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerCache& c = layers_[i];
    if (!c.owns || !c.ring) continue;
    cp.k[i] = c.k;
    cp.v[i] = c.v;
    cp.pos[i] = c.pos;
  }
  return cp;
}

void KvCache::Restore(const Checkpoint& cp) {
  G4_CHECK(cp.n_tokens <= n_tokens_ && cp.k.size() == layers_.size(), "checkpoint does not fit this cache");
  for (size_t i = 0; i < layers_.size(); ++i) {
    LayerCache& c = layers_[i];
    if (!c.owns) continue;
    if (c.ring) {
      c.k = cp.k[i];
      c.v = cp.v[i];
      c.pos = cp.pos[i];
    } else {
      c.used = std::min(c.used, cp.n_tokens);
    }
  }
  n_tokens_ = cp.n_tokens;
}

void KvCache::Append(int layer, const float* k, const float* v, int64_t n, int64_t first_pos) {
  LayerCache& c = layers_[layer];
  G4_CHECK(c.owns, "layer ", layer, " has no cache of its own");
  if (c.ring) {
    const int64_t skip = std::max<int64_t>(0, n - c.capacity);
    for (int64_t t = skip; t < n; ++t) {
      const int64_t pos = first_pos + t;
      const int64_t slot = RingSlot(pos, c.capacity);
      std::memcpy(&c.k[slot * c.kv_dim], k + t * c.kv_dim, c.kv_dim * sizeof(float));
      std::memcpy(&c.v[slot * c.kv_dim], v + t * c.kv_dim, c.kv_dim * sizeof(float));
      c.pos[slot] = static_cast<int32_t>(pos);
    }
    return;
  }
  G4_CHECK(c.used + n <= c.capacity, "cache overflow");
  const size_t need = static_cast<size_t>((c.used + n) * c.kv_dim);
  if (c.k.size() < need) {
    // Grow geometrically so long generations do not copy the cache at every token.
    const size_t grown = std::min(static_cast<size_t>(c.capacity * c.kv_dim), std::max(need, c.k.size() * 2));
    c.k.resize(grown);
    c.v.resize(grown);
    c.pos.resize(grown / c.kv_dim, -1);
  }
  std::memcpy(&c.k[c.used * c.kv_dim], k, n * c.kv_dim * sizeof(float));
  std::memcpy(&c.v[c.used * c.kv_dim], v, n * c.kv_dim * sizeof(float));
  for (int64_t t = 0; t < n; ++t) c.pos[c.used + t] = static_cast<int32_t>(first_pos + t);
  c.used += n;
}

void KvCache::Clear() {
  n_tokens_ = 0;
  for (LayerCache& c : layers_) {
    if (!c.owns) continue;
    if (c.ring) {
      std::fill(c.pos.begin(), c.pos.end(), -1);
    } else {
      c.used = 0;
      c.k.clear();
      c.v.clear();
      c.pos.clear();
      c.k.shrink_to_fit();
      c.v.shrink_to_fit();
      c.pos.shrink_to_fit();
    }
  }
}

size_t KvCache::bytes_in_use() const {
  size_t n = 0;
  for (const LayerCache& c : layers_) n += (c.k.size() + c.v.size()) * sizeof(float) + c.pos.size() * 4;
  return n;
}

size_t KvCache::BytesAtContext(const ModelConfig& config, int64_t context, size_t bytes_per_value) {
  size_t n = 0;
  for (const LayerSpec& spec : config.layers) {
    if (!spec.owns_kv) continue;
    const int64_t slots = spec.window > 0 ? std::min<int64_t>(spec.window, context) : context;
    n += static_cast<size_t>(2 * slots * spec.n_kv_heads * spec.head_dim) * bytes_per_value;
  }
  return n;
}

}  // namespace g4
