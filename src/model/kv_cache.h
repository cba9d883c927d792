// Key/value cache of the layers that own one, stored as F32, F16, BF16 or Q8_0 rows. Sliding-window layers keep only their window in
// a ring buffer (slot = position mod window); full-attention layers grow up to the context
// size. KV-shared layers have no cache of their own: they read their source layer's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "ops/dtype.h"

namespace g4 {

// True when a query at `query_pos` may attend to a key at `key_pos` (causal, and within the
// last `window` positions when window > 0). Empty slots have key_pos < 0.
inline bool KeyVisible(int64_t query_pos, int64_t key_pos, int window) {
  return key_pos >= 0 && key_pos <= query_pos && (window == 0 || query_pos - key_pos < window);
}

inline int64_t RingSlot(int64_t pos, int64_t capacity) { return pos % capacity; }

// "f32", "f16", "bf16" or "q8_0" (what --kv-type takes); throws g4::Error naming the value.
DType ParseKvType(const std::string& name);

class KvCache {
 public:
  // type: how entries are stored (F32, F16, BF16, or Q8_0 when every kv_dim is a multiple
  // of 32); throws g4::Error for another type.
  KvCache(const ModelConfig& config, int max_context, DType type = DType::kF32);

  // The stored entries of an owning layer: n slots of kv_dim values each (row_bytes apart, in
  // `type`), and each slot's position (-1 = empty). Full layers hold position p in slot p;
  // rings in slot p mod n.
  struct View {
    const uint8_t* k = nullptr;
    const uint8_t* v = nullptr;
    const int32_t* pos = nullptr;
    int64_t n = 0;
    int64_t kv_dim = 0;
    size_t row_bytes = 0;
    DType type = DType::kF32;
    bool ring = false;
    const uint8_t* KeyRow(int64_t slot) const { return k + slot * row_bytes; }
    const uint8_t* ValueRow(int64_t slot) const { return v + slot * row_bytes; }
    // Slot of position p, or -1 when the cache does not hold it.
    int64_t SlotOf(int64_t p) const {
      const int64_t slot = ring ? RingSlot(p, n) : p;
      return slot >= 0 && slot < n && pos[slot] == p ? slot : -1;
    }
  };
  View Get(int layer) const;

  // Stores n consecutive positions starting at first_pos; k and v are [n][kv_dim]. For a
  // ring, only the last `window` of them are kept.
  void Append(int layer, const float* k, const float* v, int64_t n, int64_t first_pos);

  // Tokens stored (positions 0 .. n_tokens()-1); the decoder advances it after each batch.
  int64_t n_tokens() const { return n_tokens_; }
  void CommitTokens(int64_t n) { n_tokens_ += n; }

  // Forgets positions >= n. Full layers always can; a ring can only while it still holds the
  // window before n (the last `window` positions ending at n-1), so this is true only for
  // n == n_tokens() or when nothing was overwritten since.
  bool CanTruncateTo(int64_t n) const;
  void TruncateTo(int64_t n);

  // A copy of the sliding-window rings at the current length. Restoring it later (after the
  // cache has moved on, as long as the full layers still hold the same first n tokens) rewinds
  // the cache to that length; rings cannot be rewound otherwise because they have overwritten
  // the window. This is what lets a new request that shares a prefix (a system prompt, the
  // earlier turns of a chat) skip recomputing it.
  struct Checkpoint {
    int64_t n_tokens = 0;
    std::vector<std::vector<uint8_t>> k, v;  // per layer; empty for non-ring layers
    std::vector<std::vector<int32_t>> pos;
    size_t bytes() const;
  };
  Checkpoint MakeCheckpoint() const;
  void Restore(const Checkpoint& checkpoint);

  void Clear();
  int max_context() const { return max_context_; }
  DType type() const { return type_; }
  // Rounds rows of kv_dim floats to what the cache will store, so entries used before and
  // after they join the cache are the same numbers.
  void RoundToStorage(float* rows, int64_t n_rows, int64_t kv_dim) const;
  size_t bytes_in_use() const;
  // Bytes the cache would take with every full layer at max_context.
  static size_t BytesAtContext(const ModelConfig& config, int64_t context, DType type);

 private:
  struct LayerCache {
    bool owns = false;
    bool ring = false;
    int64_t capacity = 0;  // ring size, or max_context for full layers
    int64_t kv_dim = 0;
    size_t row_bytes = 0;
    int64_t used = 0;      // slots in use (full layers: entries appended)
    std::vector<uint8_t> k, v;
    std::vector<int32_t> pos;
  };
  std::vector<LayerCache> layers_;
  int max_context_;
  DType type_;
  int64_t n_tokens_ = 0;
};

}  // namespace g4
