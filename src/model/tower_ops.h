// Steps the vision and audio towers share, on float activations [n][width] with the thread pool.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>

#include "base/thread_pool.h"
#include "model/tower_binder.h"

namespace g4 {

// y_i = clamp(clamp(x, in_i) · W_iᵀ, out_i) for linears that read the same x [n][in], each with
// its own bounds (spec/gemma4-io.md §4.3 step 6): every linear clamps a private copy of the
// input, never x itself; linears with identical input bounds share one copy. The products run
// as one MatMulMulti pass. y_i is [n][out_i].
void ClippedLinears(const float* x, int64_t n, std::initializer_list<std::pair<const ClippedLinear*, float*>> outs,
                    ThreadPool* pool);

// out[t] = RMSNorm(x[t]) · weight (weight may be null) for each of n rows of `width`; out may alias x.
void NormRows(const float* x, const float* weight, int64_t n, int64_t width, float eps, float* out, ThreadPool* pool);

}  // namespace g4
