// Key/value cache of the layers that own one. Sliding-window layers keep only their window in
// a ring buffer (slot = position mod window); full-attention layers grow up to the context
// size. KV-shared layers have no cache of their own: they read their source layer's.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model_config.h"

namespace g4 {

// True when a query at `query_pos` may attend to a key at `key_pos` (causal, and within the
// last `window` positions when window > 0). Empty slots have key_pos < 0.
inline bool KeyVisible(int64_t query_pos, int64_t key_pos, int window) {
  return key_pos >= 0 && key_pos <= query_pos && (window == 0 || query_pos - key_pos < window);
}

inline int64_t RingSlot(int64_t pos, int64_t capacity) { return pos % capacity; }

class KvCache {
 public:
  KvCache(const ModelConfig& config, int max_context);

  // The stored entries of an owning layer: n slots of kv_dim floats each, and each slot's
  // position (-1 = empty).
  struct View {
    const float* k = nullptr;
    const float* v = nullptr;
    const int32_t* pos = nullptr;
    int64_t n = 0;
    int64_t kv_dim = 0;
  };
  View Get(int layer) const;

  // Stores n consecutive positions starting at first_pos; k and v are [n][kv_dim]. For a
  // ring, only the last `window` of them are kept.
  void Append(int layer, const float* k, const float* v, int64_t n, int64_t first_pos);

  void Clear();
  int max_context() const { return max_context_; }
  size_t bytes_in_use() const;
  // Bytes the cache would take with every full layer at max_context.
  static size_t BytesAtContext(const ModelConfig& config, int64_t context, size_t bytes_per_value);

 private:
  struct LayerCache {
    bool owns = false;
    bool ring = false;
    int64_t capacity = 0;  // ring size, or max_context for full layers
    int64_t kv_dim = 0;
    int64_t used = 0;      // slots in use (full layers: entries appended)
    std::vector<float> k, v;
    std::vector<int32_t> pos;
  };
  std::vector<LayerCache> layers_;
  int max_context_;
};

}  // namespace g4
