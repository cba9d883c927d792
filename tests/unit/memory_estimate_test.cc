// The memory estimate against what a session really takes: the growth of the process's peak
// RSS (getrusage) while a tiny model is loaded and its whole context filled, as the generator
// fills it (prefill chunks of 512, then single-token decode steps). Each test case runs in its own
// process under ctest, so the peak belongs to that model alone.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <ostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "g4/engine.h"
#include "g4/memory.h"

namespace g4 {
namespace {

const std::string kModels = std::string(G4_TEST_DATA_DIR) + "/models/";

uint64_t CurrentRss() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  if (f != nullptr) {
    if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t PeakRss() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

struct Case {
  const char* model;
  int context;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.model << " at context " << c.context; }

class MemoryEstimateVsRss : public testing::TestWithParam<Case> {};

TEST_P(MemoryEstimateVsRss, WithinTenPercent) {
  const Case c = GetParam();
  const int threads = 2;
  const uint64_t before = CurrentRss();
  ASSERT_LT(PeakRss(), before + (1u << 20)) << "the process peaked before the test; the measurement would be wrong";

  std::unique_ptr<LoadedModel> model;
  ASSERT_TRUE(LoadedModel::Load(kModels + c.model, &model).ok());
  const MemoryEstimate e = EstimateMemory(*model, c.context, threads);
  SessionConfig config;
  config.context = c.context;
  config.n_threads = threads;
  std::unique_ptr<Session> session;
  ASSERT_TRUE(Session::Create(*model, config, &session).ok());
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> token(4, model->vocab_size() - 1);
  std::vector<float> logits;
  const int prefill = c.context - 8;
  for (int done = 0; done < prefill;) {
    const int n = std::min(512, prefill - done);
    std::vector<int32_t> chunk(n);
    for (int32_t& t : chunk) t = token(rng);
    ASSERT_TRUE(session->Eval(chunk, false, done + n == prefill ? &logits : nullptr).ok());
    done += n;
  }
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(session->Eval({token(rng)}, false, &logits).ok());

  // The runtime part (program, thread stacks, tokenizer) was there before, or is not loaded here.
  const double measured = static_cast<double>(PeakRss() - before);
  const double estimated = static_cast<double>(e.weights + e.kv_cache + e.buffers);
  std::printf("%s context %d: estimated %.2f MiB (weights %.2f + KV %.2f + buffers %.2f), measured peak RSS growth "
              "%.2f MiB (%+.1f%%)\n",
              c.model, c.context, estimated / 1048576, e.weights / 1048576.0, e.kv_cache / 1048576.0,
              e.buffers / 1048576.0, measured / 1048576, 100 * (measured - estimated) / estimated);
  // 10%, plus 1 MiB for allocator and thread-arena noise that is not worth modelling.
  EXPECT_NEAR(measured, estimated, 0.10 * estimated + 1048576.0);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, MemoryEstimateVsRss,
                         testing::Values(Case{"tiny-dense.f32.gguf", 4096}, Case{"tiny-moe.f32.gguf", 2048},
                                         Case{"tiny-e2b.f32.gguf", 4096}, Case{"tiny-e4b.q8_0.gguf", 4096},
                                         Case{"tiny-all.f32.gguf", 1024}, Case{"tiny-e2b-hf", 2048}),
                         [](const testing::TestParamInfo<Case>& info) {
                           std::string name = std::string(info.param.model) + "_" + std::to_string(info.param.context);
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

TEST(MemoryEstimate, GrowsWithContextAndRefusesWhatDoesNotFit) {
  std::unique_ptr<LoadedModel> model;
  ASSERT_TRUE(LoadedModel::Load(kModels + "tiny-e2b.q4_0.gguf", &model).ok());
  const MemoryEstimate small = EstimateMemory(*model, 256, 1);
  const MemoryEstimate large = EstimateMemory(*model, 4096, 1);
  EXPECT_EQ(small.weights + small.kv_cache + small.buffers + small.runtime, small.total);
  // Only the full-attention layers that own a cache grow: tiny-e2b has one (layer 4: 1 KV head of
  // 64), so K and V add 2 x 64 f16 values per token, plus the int32 position and the growth copy.
  EXPECT_EQ(large.kv_cache - small.kv_cache, (4096 - 256) * (2 * 64 * 2 + 4 + 64 * 2));
  // A session never holds more than the model's context (4096 here).
  EXPECT_EQ(EstimateMemory(*model, 100000, 1).total, large.total);
  EXPECT_EQ(EstimateMemory(*model, 100000, 1).context, 4096);

  // Between the needs at 1024 and at 4096 (the prefill buffers stop growing at 512).
  const uint64_t limit = (EstimateMemory(*model, 1024, 1).total + large.total) / 2;
  setenv("G4_MEMORY_LIMIT", std::to_string(limit).c_str(), 1);
  EXPECT_EQ(AvailableMemory(), limit);
  const MemoryFit fit = CheckMemoryFit(*model, 4096, 1);
  EXPECT_FALSE(fit.fits);
  EXPECT_GE(fit.largest_context, 1024);
  EXPECT_LT(fit.largest_context, 4096);
  EXPECT_EQ(fit.largest_context % 256, 0);
  EXPECT_LE(EstimateMemory(*model, fit.largest_context, 1).total, limit);
  EXPECT_GT(EstimateMemory(*model, fit.largest_context + 256, 1).total, limit);
  EXPECT_TRUE(CheckMemoryFit(*model, 256, 1).fits);
  setenv("G4_MEMORY_LIMIT", "1K", 1);
  EXPECT_EQ(AvailableMemory(), 1024u);
  EXPECT_EQ(CheckMemoryFit(*model, 1024, 1).largest_context, 0);
  unsetenv("G4_MEMORY_LIMIT");
  EXPECT_GT(AvailableMemory(), 0u);
}

}  // namespace
}  // namespace g4
