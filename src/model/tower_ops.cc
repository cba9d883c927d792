#include "model/tower_ops.h"

#include <algorithm>
#include <vector>

#include "ops/ops.h"

namespace g4 {
namespace {

void Clamp(float* x, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], lo), hi);
}

}  // namespace

void ClippedLinears(const float* x, int64_t n, std::initializer_list<std::pair<const ClippedLinear*, float*>> outs,
                    ThreadPool* pool) {
  std::vector<std::vector<float>> copies;
  copies.reserve(outs.size());
  std::vector<const ClipBounds*> copy_bounds;
  std::vector<MatMulJob> jobs;
  for (const auto& [linear, y] : outs) {
    const ClipBounds& bounds = linear->bounds;
    const int64_t in = linear->weight.shape[0];
    const float* input = x;
    if (bounds.clamps_input()) {
      auto same = std::find_if(copy_bounds.begin(), copy_bounds.end(),
                               [&](const ClipBounds* b) { return b->same_input(bounds); });
      if (same != copy_bounds.end()) {
        input = copies[same - copy_bounds.begin()].data();
      } else {
        std::vector<float>& copy = copies.emplace_back(x, x + n * in);
        pool->ParallelFor(n, [&](int64_t begin, int64_t end) {
          Clamp(&copy[begin * in], (end - begin) * in, bounds.in_min, bounds.in_max);
        });
        copy_bounds.push_back(&bounds);
        input = copy.data();
      }
    }
    jobs.push_back({input, in, RowsOf(linear->weight), y, linear->weight.shape[1]});
  }
  MatMulMulti(jobs.data(), static_cast<int>(jobs.size()), n, pool);
  for (const auto& [linear, y] : outs) {
    if (!linear->bounds.clamps_output()) continue;
    const int64_t out = linear->weight.shape[1];
    pool->ParallelFor(n, [&](int64_t begin, int64_t end) {
      Clamp(&y[begin * out], (end - begin) * out, linear->bounds.out_min, linear->bounds.out_max);
    });
  }
}

void NormRows(const float* x, const float* weight, int64_t n, int64_t width, float eps, float* out, ThreadPool* pool) {
  pool->ParallelFor(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) RmsNorm(x + t * width, weight, width, eps, out + t * width);
  });
}

}  // namespace g4
