// libg4 memory check: what a session at a given context will take, computed from the model's
// metadata before its weights are read, and whether that fits in the memory available now.
#pragma once

#include <cstdint>

#include "g4/engine.h"

namespace g4 {

struct MemoryEstimate {
  int64_t context = 0;
  uint64_t weights = 0;   // weight bytes read while running (memory-mapped pages that become resident)
  uint64_t kv_cache = 0;  // sliding layers hold only their window, KV-shared layers none
  uint64_t buffers = 0;   // activations of one prefill chunk, logits, scratch
  uint64_t runtime = 0;   // program, tokenizer tables, parsed metadata, thread stacks
  uint64_t total = 0;     // expected peak resident memory of the process
};

// n_threads 0: one per hardware thread (as SessionConfig).
MemoryEstimate EstimateMemory(const LoadedModel& model, int64_t context, int n_threads = 0);

// Memory this process may use in all: what it holds now plus MemAvailable from /proc/meminfo
// (capped by a cgroup v2 limit); $G4_MEMORY_LIMIT (bytes, or 512M / 8G) overrides it. 0 when
// unknown.
uint64_t AvailableMemory();

struct MemoryFit {
  MemoryEstimate estimate;
  uint64_t available = 0;        // 0: unknown (then `fits` is true)
  bool fits = true;
  int64_t largest_context = 0;   // the largest context (a multiple of 256, at least 256) that fits; 0: none
};

MemoryFit CheckMemoryFit(const LoadedModel& model, int64_t context, int n_threads = 0);

}  // namespace g4
