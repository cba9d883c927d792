#include "model_resolve.h"

#include <cstdio>

#include "g4/memory.h"
#include "g4/store.h"
#include "base/human_bytes.h"

namespace g4::cli {

void AddStoreOption(CLI::App* sub, std::string* store) {
  sub->add_option("--store", *store, "model store folder (default: $G4_HOME, else ~/.cache/g4)");
}

bool ResolveModelArgument(const std::string& model, const std::string& store_dir, const char* command,
                          std::string* path) {
  StoreOptions options;
  options.root = store_dir;
  ModelStore store(options);
  bool pulled = false;
  Status st = store.Resolve(model, path, &pulled);
  if (!st.ok()) {
    std::fprintf(stderr, "g4 %s: %s\n", command, st.message().c_str());
    return false;
  }
  if (pulled) std::fprintf(stderr, "g4 %s: %s is ready (%s)\n", command, model.c_str(), path->c_str());
  return true;
}

bool CheckMemoryBeforeRun(const LoadedModel& model, const std::string& model_name, int context, int threads,
                          bool skip, const char* command) {
  if (skip) return true;
  const int64_t ctx = context > 0 ? context : std::min(model.context_length(), 32768);
  const MemoryFit fit = CheckMemoryFit(model, ctx, threads);
  if (fit.fits) return true;
  const MemoryEstimate& e = fit.estimate;
  auto gib = [](uint64_t b) { return HumanBytes(static_cast<double>(b)); };
  std::fprintf(stderr,
               "g4 %s: not enough memory for %s at context %lld: it needs about %s (%s weights + %s KV cache + %s "
               "buffers + %s runtime) and %s is available.\n",
               command, model_name.c_str(), static_cast<long long>(e.context), gib(e.total).c_str(), gib(e.weights).c_str(),
               gib(e.kv_cache).c_str(), gib(e.buffers).c_str(), gib(e.runtime).c_str(), gib(fit.available).c_str());
  if (fit.largest_context >= 256) {
    const MemoryEstimate smaller = EstimateMemory(model, fit.largest_context, threads);
    std::fprintf(stderr, "  Try a smaller context: -c %lld needs about %s.\n", static_cast<long long>(fit.largest_context),
                 gib(smaller.total).c_str());
  }
  std::fprintf(stderr, "  %s a smaller quant or model (`g4 pull --list` shows them), or pass --no-memory-check to load "
                       "anyway.\n", fit.largest_context >= 256 ? "Or use" : "Use");
  return false;
}

}  // namespace g4::cli
