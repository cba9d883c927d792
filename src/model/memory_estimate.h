// What a session at a given context takes in memory, computed from the model's metadata before
// any weight page is touched: the weights the decoder reads (memory-mapped pages become
// resident as they are used), the KV cache (KvCache::BytesAtContext: sliding layers hold only
// their window, KV-shared layers none), the activation buffers of one prefill chunk, and the
// runtime (program, tokenizer tables, thread stacks).
#pragma once

#include <cstdint>

#include "model/model.h"

namespace g4 {

struct MemoryNeeds {
  int64_t context = 0;
  uint64_t weights = 0;   // resident weight bytes (per-layer token embeddings: rows of the tokens used)
  uint64_t kv_cache = 0;  // KV entries, positions and the growth copy of the largest full layer
  uint64_t buffers = 0;   // activations of one prefill chunk, logits, matmul scratch
  uint64_t runtime = 0;   // program, tokenizer, thread stacks
  uint64_t total() const { return weights + kv_cache + buffers + runtime; }
};

MemoryNeeds EstimateMemoryNeeds(const Model& model, int64_t context, int n_threads);

// Bytes this process may grow to: what it holds now plus /proc/meminfo MemAvailable (lowered to
// the cgroup's memory.max - memory.current when a limit is set). $G4_MEMORY_LIMIT (bytes, or
// with a K/M/G suffix) overrides it. 0 when unknown.
uint64_t AvailableMemoryBytes();

}  // namespace g4
