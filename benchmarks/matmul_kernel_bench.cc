// Micro-benchmarks of the matmul kernels (src/ops/kernels.h) on every SIMD level this CPU has:
// decode GEMV per weight type (bytes/s of weights streamed, from a matrix larger than the
// caches, one thread), the int16 prefill loop and the prefill float GEMM (multiply-adds/s,
// L2-resident).
//   ./build/benchmarks/matmul_kernel_bench --benchmark_filter=Gemv
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ops/dtype.h"
#include "ops/kernels.h"
#include "ops/simd.h"

namespace g4 {
namespace {

std::vector<uint8_t> RandomMatrix(DType type, int64_t rows, int64_t k) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  std::vector<float> row(k);
  const size_t row_bytes = RowBytes(type, k);
  std::vector<uint8_t> data(row_bytes * rows);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = dist(rng);
    QuantizeRow(type, row.data(), data.data() + r * row_bytes, k);
  }
  return data;
}

// args: level, type, k, KiB of weights (256 MiB: every row comes from memory; 512 KiB: from
// L2, which shows the kernel's compute speed).
void BM_Gemv(benchmark::State& state) {
  const auto level = static_cast<SimdLevel>(state.range(0));
  const auto type = static_cast<DType>(state.range(1));
  const int64_t k = state.range(2);
  if (!SimdLevelSupported(level)) {
    state.SkipWithError("level not supported by this CPU");
    return;
  }
  const KernelTable& kt = KernelsFor(level);
  const size_t row_bytes = RowBytes(type, k);
  const int64_t rows = std::max<int64_t>(4, static_cast<int64_t>((static_cast<size_t>(state.range(3)) << 10) / row_bytes));
  const std::vector<uint8_t> w = RandomMatrix(type, rows, k);
  std::vector<float> x(k), y(rows);
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  std::vector<int16_t> q(k);
  std::vector<float> d(PaddedBlocks(k));
  std::vector<int32_t> s(PaddedBlocks(k));
  kt.quantize_acts(x.data(), k, q.data(), d.data());
  QActs acts{q.data(), nullptr, d.data(), s.data(), 1, k};
  // Q4_0 rows take asymmetric bytes (kernels.h).
  std::vector<uint8_t> u(U8TokenBytes(k));
  std::vector<float> mn(PaddedBlocks(k));
  if (UsesU8Acts(type)) {
    kt.quantize_acts_u8(x.data(), k, u.data(), d.data(), mn.data(), s.data());
    acts.u8 = u.data();
    acts.mn = mn.data();
  }
  for (auto _ : state) {
    switch (type) {
      case DType::kQ4_0:
        kt.matmul_q4_0(w.data(), row_bytes, 0, rows, acts, y.data(), rows);
        break;
      case DType::kQ8_0:
        kt.matmul_q8_0(w.data(), row_bytes, 0, rows, acts, y.data(), rows);
        break;
      case DType::kBF16:
        kt.gemv_bf16(w.data(), row_bytes, 0, rows, x.data(), 1, k, k, y.data(), rows);
        break;
      case DType::kF16:
        kt.gemv_f16(w.data(), row_bytes, 0, rows, x.data(), 1, k, k, y.data(), rows);
        break;
      default:
        kt.gemv_f32(w.data(), row_bytes, 0, rows, x.data(), 1, k, k, y.data(), rows);
        break;
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
  state.SetLabel(std::string(SimdLevelName(level)) + " " + std::string(DTypeName(type)));
}

// args: level, tokens, misalignment in floats. 18 rows x 1024 columns of float weights (one
// prefill tile).
void BM_GemmTile(benchmark::State& state) {
  const auto level = static_cast<SimdLevel>(state.range(0));
  const int64_t n = state.range(1);
  if (!SimdLevelSupported(level)) {
    state.SkipWithError("level not supported by this CPU");
    return;
  }
  const int64_t rows = 18, k = 1024;
  const int64_t offset = state.range(2);  // floats past a 64-byte boundary
  std::vector<float> w_buf(rows * k + 32), x_buf(n * k + 32), y(n * rows);
  auto aligned = [&](std::vector<float>& v) {
    const uintptr_t p = reinterpret_cast<uintptr_t>(v.data());
    return reinterpret_cast<float*>((p + 63) / 64 * 64) + offset;
  };
  float* w = aligned(w_buf);
  float* x = aligned(x_buf);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t i = 0; i < rows * k; ++i) w[i] = dist(rng);
  for (int64_t i = 0; i < n * k; ++i) x[i] = dist(rng);
  const KernelTable& kt = KernelsFor(level);
  for (auto _ : state) {
    kt.gemm_f32(w, k, rows, x, k, n, k, y.data(), rows, false);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["MAC/s"] =
      benchmark::Counter(static_cast<double>(rows * k * n), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(SimdLevelName(level));
}

// args: level, type, tokens, k. The prefill loop of the int16 scheme on an L2-resident matrix
// (64 rows), one thread: multiply-adds/s.
void BM_GemmQuant(benchmark::State& state) {
  const auto level = static_cast<SimdLevel>(state.range(0));
  const auto type = static_cast<DType>(state.range(1));
  const int64_t n = state.range(2), k = state.range(3), rows = 64;
  if (!SimdLevelSupported(level)) {
    state.SkipWithError("level not supported by this CPU");
    return;
  }
  const KernelTable& kt = KernelsFor(level);
  const std::vector<uint8_t> w = RandomMatrix(type, rows, k);
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(n * k), y(n * rows);
  for (float& v : x) v = dist(rng);
  const int64_t nbp = PaddedBlocks(k);
  std::vector<int16_t> q(n * k), grouped(n * nbp * 32);
  std::vector<float> d(n * nbp);
  std::vector<int32_t> s(n * nbp);
  for (int64_t t = 0; t < n; ++t) {
    kt.quantize_acts(x.data() + t * k, k, q.data() + t * k, d.data() + t * nbp);
    GroupActs(q.data() + t * k, k, grouped.data() + t * nbp * 32);
  }
  QActs acts{q.data(), grouped.data(), d.data(), s.data(), n, k};
  const int64_t token_bytes = U8TokenBytes(k);
  std::vector<uint8_t> u(n * token_bytes), grouped_u(n * token_bytes);
  std::vector<float> mn(n * nbp);
  if (UsesU8Acts(type)) {
    for (int64_t t = 0; t < n; ++t) {
      kt.quantize_acts_u8(x.data() + t * k, k, u.data() + t * token_bytes, d.data() + t * nbp, mn.data() + t * nbp,
                          s.data() + t * nbp);
      kt.group_acts_u8(u.data() + t * token_bytes, k, grouped_u.data() + t * token_bytes);
    }
    acts.u8 = u.data();
    acts.mn = mn.data();
    acts.grouped_u8 = grouped_u.data();
  }
  const MatQuantFn fn = type == DType::kQ4_0 ? kt.matmul_q4_0 : kt.matmul_q8_0;
  for (auto _ : state) {
    fn(w.data(), RowBytes(type, k), 0, rows, acts, y.data(), rows);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["MAC/s"] =
      benchmark::Counter(static_cast<double>(rows * k * n), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(SimdLevelName(level)) + " " + std::string(DTypeName(type)));
}

void GemvArgs(benchmark::internal::Benchmark* b) {
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2}) {
    for (DType type : {DType::kQ4_0, DType::kQ8_0, DType::kBF16, DType::kF32}) {
      for (int64_t k : {1536, 12288}) {
        for (int64_t kib : {256 << 10, 512, 16}) b->Args({static_cast<int64_t>(level), static_cast<int64_t>(type), k, kib});
      }
    }
  }
}

BENCHMARK(BM_Gemv)->Apply(GemvArgs)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_GemmQuant)
    ->ArgsProduct({{static_cast<int64_t>(SimdLevel::kAvx2)},
                   {static_cast<int64_t>(DType::kQ4_0), static_cast<int64_t>(DType::kQ8_0)},
                   {4, 64, 512},
                   {1536, 6144}})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GemmTile)
    ->ArgsProduct({{static_cast<int64_t>(SimdLevel::kScalar), static_cast<int64_t>(SimdLevel::kAvx2)}, {4, 64, 512}, {0, 4}})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace g4

BENCHMARK_MAIN();
