#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"

namespace g4 {

namespace {
constexpr DType kKvTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0};
}  // namespace

DType ParseKvType(const std::string& name) {
  for (DType type : kKvTypes) {
    if (name == DTypeName(type)) return type;
  }
  Fail("unknown KV cache type '", name, "' (expected f32, f16, bf16 or q8_0)");
}

KvCache::KvCache(const ModelConfig& config, int max_context, DType type) : max_context_(max_context), type_(type) {
  if (std::find(std::begin(kKvTypes), std::end(kKvTypes), type) == std::end(kKvTypes)) {
    Fail("KV cache type ", DTypeName(type), " is not supported (f32, f16, bf16 or q8_0)");
  }
  layers_.resize(config.n_layers);
  for (int i = 0; i < config.n_layers; ++i) {
    const LayerSpec& spec = config.layers[i];
    LayerCache& c = layers_[i];
    c.owns = spec.owns_kv;
    if (!c.owns) continue;
    c.kv_dim = static_cast<int64_t>(spec.n_kv_heads) * spec.head_dim;
    if (type == DType::kQ8_0 && spec.head_dim % 32 != 0) {
      Fail("a q8_0 KV cache needs head sizes that are multiples of 32; layer ", i, " has ", spec.head_dim);
    }
    c.row_bytes = RowBytes(type, c.kv_dim);
    c.ring = spec.window > 0 && spec.window < max_context;
    c.capacity = c.ring ? spec.window : max_context;
    if (c.ring) {
      c.k.assign(c.capacity * c.row_bytes, 0);
      c.v.assign(c.capacity * c.row_bytes, 0);
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
  v.row_bytes = c.row_bytes;
  v.type = type_;
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
  for (size_t i = 0; i < k.size(); ++i) total += k[i].size() + v[i].size() + pos[i].size() * 4;
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
  auto store = [&](int64_t slot, int64_t t) {
    QuantizeRow(type_, k + t * c.kv_dim, &c.k[slot * c.row_bytes], c.kv_dim);
    QuantizeRow(type_, v + t * c.kv_dim, &c.v[slot * c.row_bytes], c.kv_dim);
    c.pos[slot] = static_cast<int32_t>(first_pos + t);
  };
  if (c.ring) {
    for (int64_t t = std::max<int64_t>(0, n - c.capacity); t < n; ++t) store(RingSlot(first_pos + t, c.capacity), t);
    return;
  }
  G4_CHECK(c.used + n <= c.capacity, "cache overflow");
  const size_t need = static_cast<size_t>(c.used + n) * c.row_bytes;
  if (c.k.size() < need) {
    // Grow geometrically so long generations do not copy the cache at every token.
    const size_t grown = std::min(static_cast<size_t>(c.capacity) * c.row_bytes, std::max(need, c.k.size() * 2));
    c.k.resize(grown);
    c.v.resize(grown);
    c.pos.resize(grown / c.row_bytes, -1);
  }
  for (int64_t t = 0; t < n; ++t) store(c.used + t, t);
  c.used += n;
}

void KvCache::RoundToStorage(float* rows, int64_t n_rows, int64_t kv_dim) const {
  if (type_ == DType::kF32) return;
  std::vector<uint8_t> stored(RowBytes(type_, kv_dim));
  for (int64_t r = 0; r < n_rows; ++r) {
    QuantizeRow(type_, rows + r * kv_dim, stored.data(), kv_dim);
    DequantizeRow(type_, stored.data(), rows + r * kv_dim, kv_dim);
  }
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
  for (const LayerCache& c : layers_) n += c.k.size() + c.v.size() + c.pos.size() * 4;
  return n;
}

size_t KvCache::BytesAtContext(const ModelConfig& config, int64_t context, DType type) {
  size_t n = 0;
  for (const LayerSpec& spec : config.layers) {
    if (!spec.owns_kv) continue;
    const int64_t slots = spec.window > 0 ? std::min<int64_t>(spec.window, context) : context;
    n += 2 * static_cast<size_t>(slots) * RowBytes(type, static_cast<int64_t>(spec.n_kv_heads) * spec.head_dim);
  }
  return n;
}

}  // namespace g4
