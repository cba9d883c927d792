// Batch invariance of MatMul (src/ops/kernels.h): the output of one token must be the same
// bits whether the token is multiplied alone or inside a batch with other tokens, wherever it
// sits in the batch, whichever loop (decode or prefill) runs, however the rows are split
// between threads, and inside a MatMulMulti with other products. The server's continuous
// batching relies on it. Checked for every stored weight type and every SIMD level this CPU
// has.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/half.h"
#include "base/thread_pool.h"
#include "ops/dtype.h"
#include "ops/kernels.h"
#include "ops/ops.h"
#include "ops/simd.h"

namespace g4 {
namespace {

// Rows of random weights; K-quants from random bytes with small f16 scales (QuantizeRow
// cannot make them).
std::vector<uint8_t> Weights(DType type, int64_t rows, int64_t k, std::mt19937& rng) {
  const size_t row_bytes = RowBytes(type, k);
  std::vector<uint8_t> data(row_bytes * rows);
  if (type == DType::kQ4_K || type == DType::kQ6_K) {
    for (uint8_t& byte : data) byte = static_cast<uint8_t>(rng());
    const size_t block_bytes = Info(type).block_bytes;
    const uint16_t h = FloatToHalf(0.01f);
    for (size_t b = 0; b < data.size(); b += block_bytes) {
      std::memcpy(&data[b + (type == DType::kQ6_K ? 208 : 0)], &h, 2);
      if (type == DType::kQ4_K) std::memcpy(&data[b + 2], &h, 2);
    }
    return data;
  }
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  std::vector<float> row(k);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = dist(rng);
    QuantizeRow(type, row.data(), data.data() + r * row_bytes, k);
  }
  return data;
}

// Activations with outliers and an all-zero block now and then, as real ones have.
std::vector<float> Tokens(int64_t n, int64_t stride, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n * stride);
  for (float& v : x) v = dist(rng);
  for (int64_t t = 0; t < n; ++t) {
    x[t * stride + (t * 37) % stride] = 60.0f;
    for (int j = 0; j < 32 && t % 3 == 0; ++j) x[t * stride + j] = 0.0f;
  }
  return x;
}

bool SameBits(const float* a, const float* b, int64_t n) {
  return std::memcmp(a, b, static_cast<size_t>(n) * sizeof(float)) == 0;
}

class BatchInvarianceTest : public testing::TestWithParam<DType> {};

TEST_P(BatchInvarianceTest, TokenAloneEqualsTokenInAnyBatch) {
  const DType type = GetParam();
  // 2816 columns: 88 blocks, 11 full lane groups, more than one prefill chunk; 704: a padded
  // last lane group; 1056: a float chunk and a bit.
  for (const int64_t k : {int64_t{704}, int64_t{1056}, int64_t{2816}}) {
    if (k % Info(type).block_elems != 0) continue;
    std::mt19937 rng(static_cast<uint32_t>(type) * 31 + static_cast<uint32_t>(k));
    const int64_t rows = 45, n_all = 40, x_stride = k + 8;
    const std::vector<uint8_t> data = Weights(type, rows, k, rng);
    const WeightRows w{type, data.data(), RowBytes(type, k), k, rows};
    const std::vector<float> x = Tokens(n_all, x_stride, rng);
    for (SimdLevel level : SupportedSimdLevels()) {
      ScopedSimdLevel scoped(level);
      SCOPED_TRACE(std::string(SimdLevelName(level)) + " " + std::string(DTypeName(type)) + " k " + std::to_string(k));
      // Each token alone, no pool.
      std::vector<float> alone(n_all * rows);
      for (int64_t t = 0; t < n_all; ++t) MatMul(&x[t * x_stride], 1, x_stride, w, &alone[t * rows], rows, nullptr);
      for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        // Batches of n consecutive tokens starting at several offsets: every token meets
        // different neighbours and sits at different positions of the register tiles.
        for (int64_t n : {1, 2, 3, 4, 5, 7, 17, 40}) {
          for (int64_t first = 0; first + n <= n_all; first += (n == n_all ? n : 3)) {
            std::vector<float> y(n * rows);
            MatMul(&x[first * x_stride], n, x_stride, w, y.data(), rows, &pool);
            for (int64_t t = 0; t < n; ++t) {
              ASSERT_TRUE(SameBits(&y[t * rows], &alone[(first + t) * rows], rows))
                  << "token " << first + t << " in a batch of " << n << " from " << first << ", " << threads
                  << " threads";
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, BatchInvarianceTest,
                         testing::Values(DType::kQ4_0, DType::kQ8_0, DType::kF32, DType::kF16, DType::kBF16,
                                         DType::kQ4_K, DType::kQ6_K),
                         [](const testing::TestParamInfo<DType>& info) { return std::string(DTypeName(info.param)); });

// MatMulMulti shares quantized activations between jobs and hands them out as one pass; each
// job's result must still equal MatMul of that job alone, one token at a time.
TEST(BatchInvarianceMultiTest, JobsInOnePassEqualSingleTokenProducts) {
  std::mt19937 rng(77);
  const int64_t k = 512, n = 9;
  const DType types[] = {DType::kQ4_0, DType::kQ8_0, DType::kF16, DType::kQ6_K};
  const int64_t rows[] = {33, 17, 24, 9};
  std::vector<std::vector<uint8_t>> data;
  for (int i = 0; i < 4; ++i) data.push_back(Weights(types[i], rows[i], k, rng));
  const std::vector<float> x = Tokens(n, k, rng);
  for (SimdLevel level : SupportedSimdLevels()) {
    ScopedSimdLevel scoped(level);
    SCOPED_TRACE(SimdLevelName(level));
    ThreadPool pool(2);
    for (int64_t m : {int64_t{1}, int64_t{3}, n}) {
      std::vector<std::vector<float>> y(4);
      std::vector<MatMulJob> jobs;
      for (int i = 0; i < 4; ++i) {
        y[i].assign(m * rows[i], 0.0f);
        jobs.push_back({x.data(), k, {types[i], data[i].data(), RowBytes(types[i], k), k, rows[i]}, y[i].data(), rows[i]});
      }
      MatMulMulti(jobs.data(), 4, m, &pool);
      for (int i = 0; i < 4; ++i) {
        for (int64_t t = 0; t < m; ++t) {
          std::vector<float> alone(rows[i]);
          MatMul(&x[t * k], 1, k, jobs[i].w, alone.data(), rows[i], nullptr);
          ASSERT_TRUE(SameBits(&y[i][t * rows[i]], alone.data(), rows[i]))
              << DTypeName(types[i]) << " token " << t << " of " << m;
        }
      }
    }
  }
}

}  // namespace
}  // namespace g4
