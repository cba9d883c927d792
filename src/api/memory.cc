// The public memory check over model/memory_estimate.
#include "g4/memory.h"

#include "model/memory_estimate.h"

namespace g4 {

MemoryEstimate EstimateMemory(const LoadedModel& model, int64_t context, int n_threads) {
  const MemoryNeeds n = EstimateMemoryNeeds(model.internal(), context, n_threads);
  return {n.context, n.weights, n.kv_cache, n.buffers, n.runtime, n.total()};
}

uint64_t AvailableMemory() { return AvailableMemoryBytes(); }

MemoryFit CheckMemoryFit(const LoadedModel& model, int64_t context, int n_threads) {
  MemoryFit fit;
  fit.estimate = EstimateMemory(model, context, n_threads);
  fit.available = AvailableMemory();
  fit.fits = fit.available == 0 || fit.estimate.total <= fit.available;
  if (fit.fits) {
    fit.largest_context = context;
    return fit;
  }
  // The estimate grows with the context: bisect over multiples of 256.
  int64_t lo = 0, hi = context / 256;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (EstimateMemory(model, mid * 256, n_threads).total <= fit.available) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  fit.largest_context = lo * 256;
  return fit;
}

}  // namespace g4
