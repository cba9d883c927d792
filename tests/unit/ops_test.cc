// Tests of the numeric building blocks (src/ops/ops.h) and of the thread pool they run on:
// the threaded MatMul against its single-threaded reference for every stored weight type,
// Dot, RmsNorm, GeluTanh, Softmax, ApplyRope, and ThreadPool::ParallelFor coverage.
#include "ops/ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/half.h"
#include "base/thread_pool.h"
#include "model/model_config.h"
#include "ops/dtype.h"

namespace g4 {
namespace {

std::vector<float> RandomFloats(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

void PutHalf(uint8_t* p, float v) {
  const uint16_t h = FloatToHalf(v);
  std::memcpy(p, &h, 2);
}

// Offsets of the f16 scale fields (and of an f32 one for Q8_K) inside a block of each type that
// QuantizeRow cannot produce; random bytes elsewhere are valid quants.
struct RawLayout {
  DType type;
  std::vector<size_t> half_fields;
  bool f32_scale_at_0 = false;
};

const std::vector<RawLayout>& RawLayouts() {
  static const std::vector<RawLayout> layouts = {
      {DType::kQ4_1, {0, 2}},    {DType::kQ5_0, {0}},       {DType::kQ5_1, {0, 2}},
      {DType::kQ8_1, {0, 2}},    {DType::kQ2_K, {80, 82}},  {DType::kQ3_K, {108}},
      {DType::kQ4_K, {0, 2}},    {DType::kQ5_K, {0, 2}},    {DType::kQ6_K, {208}},
      {DType::kQ8_K, {}, true},
  };
  return layouts;
}

// `rows` rows of `in` values of `type`, contiguous.
std::vector<uint8_t> MakeWeights(DType type, int64_t rows, int64_t in, std::mt19937& rng) {
  const size_t row_bytes = RowBytes(type, in);
  std::vector<uint8_t> data(row_bytes * rows);
  for (const RawLayout& layout : RawLayouts()) {
    if (layout.type != type) continue;
    std::uniform_int_distribution<int> byte(0, 255);
    for (uint8_t& b : data) b = static_cast<uint8_t>(byte(rng));
    const size_t block_bytes = Info(type).block_bytes;
    std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
    for (size_t b = 0; b < data.size(); b += block_bytes) {
      for (size_t off : layout.half_fields) PutHalf(&data[b + off], scale(rng));
      if (layout.f32_scale_at_0) {
        const float d = scale(rng);
        std::memcpy(&data[b], &d, 4);
      }
    }
    return data;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> values = RandomFloats(rng, in);
    QuantizeRow(type, values.data(), data.data() + r * row_bytes, in);
  }
  return data;
}

// y[t][o] from the dequantized weights in double, and the matching error scale sum |x||w|.
// `rounding` gets the bound of the activation rounding of the kernels for Q4_0 and Q8_0 rows
// (src/ops/kernels.h): int16 per 32-value block, so each value moves by at most half a step,
// max|block| / 65534; zero for the other types.
void DoubleReference(const float* x, int64_t n_tokens, int64_t x_stride, const WeightRows& w,
                     std::vector<double>* y, std::vector<double>* scale, std::vector<double>* rounding) {
  y->assign(n_tokens * w.rows, 0.0);
  scale->assign(n_tokens * w.rows, 0.0);
  rounding->assign(n_tokens * w.rows, 0.0);
  const bool quantized_acts = w.type == DType::kQ4_0 || w.type == DType::kQ8_0;
  std::vector<float> row(w.in);
  for (int64_t r = 0; r < w.rows; ++r) {
    DequantizeRow(w.type, w.data + r * w.row_bytes, row.data(), w.in);
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t i = 0; i < w.in; ++i) {
        const double p = static_cast<double>(x[t * x_stride + i]) * row[i];
        (*y)[t * w.rows + r] += p;
        (*scale)[t * w.rows + r] += std::fabs(p);
        if (quantized_acts) {
          // Half a step of the activation scheme (kernels.h): int16 for Q8_0, 255 levels
          // between the block's minimum and maximum for Q4_0.
          float amax = 0, lo = x[t * x_stride + i / 32 * 32], hi = lo;
          for (int64_t j = i / 32 * 32; j < i / 32 * 32 + 32; ++j) {
            amax = std::max(amax, std::fabs(x[t * x_stride + j]));
            lo = std::min(lo, x[t * x_stride + j]);
            hi = std::max(hi, x[t * x_stride + j]);
          }
          const double half_step = w.type == DType::kQ4_0 ? (hi - lo) / 510.0 : amax / 65534.0;
          (*rounding)[t * w.rows + r] += std::fabs(row[i]) * half_step * 1.0001;
        }
      }
    }
  }
}

constexpr float kSentinel = 12345.0f;

// Runs MatMul (pools of 1, 2, 3 threads, and no pool) and MatMulReference on one shape and
// checks them against a double-precision product.
void CheckMatMul(DType type, int64_t rows, int64_t in, int64_t n_tokens, std::mt19937& rng,
                 size_t misalign = 0) {
  SCOPED_TRACE(std::string(DTypeName(type)) + " rows " + std::to_string(rows) + " in " + std::to_string(in) +
               " tokens " + std::to_string(n_tokens) + " misalign " + std::to_string(misalign));
  const std::vector<uint8_t> packed = MakeWeights(type, rows, in, rng);
  std::vector<uint8_t> storage(packed.size() + misalign);
  std::memcpy(storage.data() + misalign, packed.data(), packed.size());
  WeightRows w;
  w.type = type;
  w.data = storage.data() + misalign;
  w.row_bytes = RowBytes(type, in);
  w.in = in;
  w.rows = rows;

  const int64_t x_stride = in + 5;
  const int64_t y_stride = rows + 3;
  std::vector<float> x = RandomFloats(rng, n_tokens * x_stride);
  std::vector<double> want, scale, rounding;
  DoubleReference(x.data(), n_tokens, x_stride, w, &want, &scale, &rounding);

  auto check = [&](const std::vector<float>& y, const std::string& what) {
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t r = 0; r < y_stride; ++r) {
        const float got = y[t * y_stride + r];
        if (r >= rows) {
          ASSERT_EQ(got, kSentinel) << what << ": wrote past the row width, token " << t << " col " << r;
          continue;
        }
        const double tol = 1e-5 * scale[t * rows + r] + rounding[t * rows + r] + 1e-30;
        ASSERT_NEAR(got, want[t * rows + r], tol) << what << ": token " << t << " row " << r;
      }
    }
  };

  std::vector<float> y_ref(n_tokens * y_stride, kSentinel);
  MatMulReference(x.data(), n_tokens, x_stride, w, y_ref.data(), y_stride);
  check(y_ref, "MatMulReference");

  std::vector<float> y_first;
  for (int threads : {0, 1, 2, 3}) {
    std::unique_ptr<ThreadPool> pool = threads > 0 ? std::make_unique<ThreadPool>(threads) : nullptr;
    std::vector<float> y(n_tokens * y_stride, kSentinel);
    MatMul(x.data(), n_tokens, x_stride, w, y.data(), y_stride, pool.get());
    check(y, "MatMul with " + std::to_string(threads) + " threads");
    // The result of a row never depends on how rows are split between threads.
    if (y_first.empty()) {
      y_first = y;
    } else {
      ASSERT_EQ(y, y_first) << "threads " << threads;
    }
  }
}

class MatMulTest : public testing::TestWithParam<DType> {};

TEST_P(MatMulTest, MatchesReference) {
  const DType type = GetParam();
  ASSERT_TRUE(Info(type).can_dequantize);
  std::mt19937 rng(static_cast<uint32_t>(type) + 7);
  for (int64_t in : {32, 256, 512}) {
    if (in % Info(type).block_elems != 0) continue;
    for (int64_t rows : {1, 7, 16, 33, 300}) {
      for (int64_t tokens : {1, 3, 17}) {
        CheckMatMul(type, rows, in, tokens, rng);
        if (HasFatalFailure()) return;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatMulTest,
                         testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0,
                                         DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_1, DType::kQ2_K,
                                         DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ8_K),
                         [](const testing::TestParamInfo<DType>& info) {
                           return std::string(DTypeName(info.param));
                         });

// An F32 tensor in a file need not start on a 4-byte boundary.
TEST(MatMulEdgeTest, F32WeightsAtOddAddress) {
  std::mt19937 rng(99);
  for (size_t misalign : {1, 2, 3}) CheckMatMul(DType::kF32, 300, 256, 3, rng, misalign);
}

TEST(MatMulEdgeTest, ZeroWeightsGiveZero) {
  std::vector<float> w_data(64 * 32, 0.0f);
  WeightRows w{DType::kF32, reinterpret_cast<const uint8_t*>(w_data.data()), 32 * sizeof(float), 32, 64};
  std::mt19937 rng(3);
  std::vector<float> x = RandomFloats(rng, 32 * 40);
  std::vector<float> y(64 * 40, kSentinel);
  ThreadPool pool(3);
  MatMul(x.data(), 40, 32, w, y.data(), 64, &pool);
  for (float v : y) ASSERT_EQ(v, 0.0f);
}

// --- Dot ----------------------------------------------------------------------------------

TEST(DotTest, MatchesDoubleSumForAllLengthsAndOffsets) {
  std::mt19937 rng(11);
  std::vector<float> a = RandomFloats(rng, 80, 2.0f);
  std::vector<float> b = RandomFloats(rng, 80, 2.0f);
  for (int off_a = 0; off_a < 4; ++off_a) {
    for (int off_b = 0; off_b < 4; ++off_b) {
      for (int64_t n = 0; n <= 70; ++n) {
        double want = 0, mag = 0;
        for (int64_t i = 0; i < n; ++i) {
          want += static_cast<double>(a[off_a + i]) * b[off_b + i];
          mag += std::fabs(static_cast<double>(a[off_a + i]) * b[off_b + i]);
        }
        const float got = Dot(a.data() + off_a, b.data() + off_b, n);
        ASSERT_NEAR(got, want, 1e-6 * mag + 1e-30) << "n " << n << " offsets " << off_a << "," << off_b;
      }
    }
  }
  EXPECT_EQ(Dot(a.data(), b.data(), 0), 0.0f);
  const float ones[3] = {1, 2, 3};
  EXPECT_EQ(Dot(ones, ones, 3), 14.0f);
}

// --- RmsNorm --------------------------------------------------------------------------------

std::vector<double> RmsNormDouble(const std::vector<float>& x, const float* w, double eps) {
  double ss = 0;
  for (float v : x) ss += static_cast<double>(v) * v;
  const double s = 1.0 / std::sqrt(ss / x.size() + eps);
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * s * (w ? w[i] : 1.0);
  return out;
}

TEST(RmsNormTest, WithAndWithoutWeightAndInPlace) {
  std::mt19937 rng(5);
  for (int64_t n : {1, 7, 64, 257}) {
    const std::vector<float> x = RandomFloats(rng, n, 3.0f);
    const std::vector<float> w = RandomFloats(rng, n, 2.0f);
    for (const float* weight : {static_cast<const float*>(nullptr), w.data()}) {
      const std::vector<double> want = RmsNormDouble(x, weight, 1e-6);
      std::vector<float> out(n, kSentinel);
      RmsNorm(x.data(), weight, n, 1e-6f, out.data());
      std::vector<float> inplace = x;
      RmsNorm(inplace.data(), weight, n, 1e-6f, inplace.data());
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_NEAR(out[i], want[i], 1e-5 * std::fabs(want[i]) + 1e-7) << "n " << n << " i " << i;
        EXPECT_EQ(inplace[i], out[i]) << "n " << n << " i " << i;
      }
    }
  }
}

TEST(RmsNormTest, EpsilonMatters) {
  // mean(x^2) = 1e-6 = eps, so the scale is 1/sqrt(2e-6) rather than 1/sqrt(1e-6).
  const std::vector<float> x(4, 1e-3f);
  std::vector<float> out(4);
  RmsNorm(x.data(), nullptr, 4, 1e-6f, out.data());
  for (float v : out) EXPECT_NEAR(v, 1e-3 / std::sqrt(2e-6), 1e-5);
  const std::vector<float> zeros(8, 0.0f);
  std::vector<float> zout(8, kSentinel);
  RmsNorm(zeros.data(), nullptr, 8, 1e-6f, zout.data());
  for (float v : zout) EXPECT_EQ(v, 0.0f);
}

// --- GeluTanh -------------------------------------------------------------------------------

TEST(GeluTanhTest, MatchesFormula) {
  for (double x : {-10.0, -5.0, -3.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 2.0, 3.0, 10.0}) {
    const double want = 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    EXPECT_NEAR(GeluTanh(static_cast<float>(x)), want, 2e-6 * std::max(1.0, std::fabs(x))) << "x " << x;
  }
  EXPECT_NEAR(GeluTanh(1.0f), 0.841192, 1e-6);
  EXPECT_EQ(GeluTanh(0.0f), 0.0f);
}

// --- Softmax --------------------------------------------------------------------------------

TEST(SoftmaxTest, SumsToOneAndIsShiftInvariant) {
  std::mt19937 rng(8);
  for (int64_t n : {1, 2, 5, 100, 1000}) {
    // Multiples of 1/64, so that adding 500 below is exact.
    std::vector<float> logits = RandomFloats(rng, n, 10.0f);
    for (float& v : logits) v = std::round(v * 64.0f) / 64.0f;
    std::vector<float> p = logits;
    Softmax(p.data(), n);
    double sum = 0, max_logit = logits[0];
    for (float v : logits) max_logit = std::max<double>(max_logit, v);
    double denom = 0;
    for (float v : logits) denom += std::exp(v - max_logit);
    for (int64_t i = 0; i < n; ++i) {
      sum += p[i];
      EXPECT_GE(p[i], 0.0f);
      EXPECT_NEAR(p[i], std::exp(logits[i] - max_logit) / denom, 1e-6) << "n " << n << " i " << i;
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << "n " << n;

    std::vector<float> shifted(n);
    for (int64_t i = 0; i < n; ++i) shifted[i] = logits[i] + 500.0f;
    Softmax(shifted.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(shifted[i], p[i], 1e-6 * p[i] + 1e-9) << "n " << n << " i " << i;
  }
  float big[3] = {1000.0f, 1000.0f, -1000.0f};
  Softmax(big, 3);
  EXPECT_FLOAT_EQ(big[0], 0.5f);
  EXPECT_FLOAT_EQ(big[1], 0.5f);
  EXPECT_EQ(big[2], 0.0f);
}

// --- ApplyRope ------------------------------------------------------------------------------

TEST(ApplyRopeTest, NeoXPairsAndUntouchedTail) {
  std::mt19937 rng(21);
  const int head_dim = 12;
  const int n_rot = 8;
  const std::vector<float> head = RandomFloats(rng, head_dim);
  std::vector<float> cos(n_rot / 2), sin(n_rot / 2);
  for (int j = 0; j < n_rot / 2; ++j) {
    const double angle = 0.3 + 0.7 * j;
    cos[j] = static_cast<float>(std::cos(angle));
    sin[j] = static_cast<float>(std::sin(angle));
  }
  std::vector<float> out = head;
  ApplyRope(out.data(), n_rot, cos.data(), sin.data());
  for (int j = 0; j < n_rot / 2; ++j) {
    const double a = head[j], b = head[j + n_rot / 2];
    EXPECT_NEAR(out[j], a * cos[j] - b * sin[j], 1e-6) << j;
    EXPECT_NEAR(out[j + n_rot / 2], b * cos[j] + a * sin[j], 1e-6) << j;
    // A rotation keeps each pair's length.
    EXPECT_NEAR(std::hypot(out[j], out[j + n_rot / 2]), std::hypot(a, b), 1e-6) << j;
  }
  for (int i = n_rot; i < head_dim; ++i) EXPECT_EQ(out[i], head[i]) << i;
}

TEST(ApplyRopeTest, ZeroAngleIsIdentity) {
  std::mt19937 rng(22);
  const std::vector<float> head = RandomFloats(rng, 64);
  const std::vector<float> cos(32, 1.0f), sin(32, 0.0f);
  std::vector<float> out = head;
  ApplyRope(out.data(), 64, cos.data(), sin.data());
  EXPECT_EQ(out, head);
}

// Proportional RoPE (spec §2.5) through ApplyRope: lanes (j, j+32) turn for j < 8 only.
TEST(ApplyRopeTest, ProportionalRopeAtPosition) {
  const RopeSpec rope = MakeProportionalRope(64, 1e6, 0.25);
  std::mt19937 rng(23);
  const std::vector<float> head = RandomFloats(rng, 64);
  const int pos = 37;
  std::vector<float> cos(32), sin(32);
  for (int j = 0; j < 32; ++j) {
    cos[j] = std::cos(pos * rope.inv_freq[j]);
    sin[j] = std::sin(pos * rope.inv_freq[j]);
  }
  std::vector<float> out = head;
  ApplyRope(out.data(), rope.n_rot, cos.data(), sin.data());
  for (int j = 0; j < 32; ++j) {
    const double angle = j < 8 ? pos * std::pow(1e6, -2.0 * j / 64) : 0.0;
    const double a = head[j], b = head[j + 32];
    EXPECT_NEAR(out[j], a * std::cos(angle) - b * std::sin(angle), 2e-5) << j;
    EXPECT_NEAR(out[j + 32], b * std::cos(angle) + a * std::sin(angle), 2e-5) << j;
    if (j >= 8) {
      EXPECT_EQ(out[j], head[j]) << j;
      EXPECT_EQ(out[j + 32], head[j + 32]) << j;
    }
  }
  EXPECT_NE(out[0], head[0]);
}

// --- ThreadPool -----------------------------------------------------------------------------

TEST(ThreadPoolTest, ParallelForCoversRangeExactlyOnce) {
  for (int threads : {1, 2, 3, 4, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 5, 1000}) {
      for (int64_t grain : {1, 2, 3, 7, 64, 2000}) {
        SCOPED_TRACE("threads " + std::to_string(threads) + " n " + std::to_string(n) + " grain " +
                     std::to_string(grain));
        std::vector<std::atomic<int>> hits(n);
        std::atomic<int> pieces{0};
        std::atomic<bool> bad_range{false};
        pool.ParallelFor(
            n,
            [&](int64_t begin, int64_t end) {
              if (begin < 0 || end > n || begin >= end) bad_range = true;
              ++pieces;
              for (int64_t i = begin; i < end && i < n && i >= 0; ++i) ++hits[i];
            },
            grain);
        EXPECT_FALSE(bad_range);
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i;
        const int64_t max_pieces = std::min<int64_t>(threads, (n + grain - 1) / grain);
        EXPECT_LE(pieces.load(), std::max<int64_t>(max_pieces, n > 0 ? 1 : 0));
        if (n == 0) {
          EXPECT_EQ(pieces.load(), 0);
        }
      }
    }
  }
}

TEST(ThreadPoolTest, SmallRangeStaysOnCallingThread) {
  ThreadPool pool(4);
  std::thread::id seen;
  pool.ParallelFor(10, [&](int64_t, int64_t) { seen = std::this_thread::get_id(); }, 16);
  EXPECT_EQ(seen, std::this_thread::get_id());
}

TEST(ThreadPoolTest, UsesSeveralThreads) {
  ThreadPool pool(4);
  std::mutex mutex;
  std::set<std::thread::id> ids;
  pool.ParallelFor(4, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> lock(mutex);
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(ids.size(), 4u);
}

TEST(ThreadPoolTest, ManyCallsInARow) {
  for (int threads : {2, 3, 8}) {
    ThreadPool pool(threads);
    std::atomic<int64_t> total{0};
    for (int iter = 0; iter < 1000; ++iter) {
      const int64_t n = 1 + iter % 13;
      pool.ParallelFor(n, [&](int64_t begin, int64_t end) { total += end - begin; });
    }
    int64_t want = 0;
    for (int iter = 0; iter < 1000; ++iter) want += 1 + iter % 13;
    EXPECT_EQ(total.load(), want) << "threads " << threads;
  }
}

TEST(ThreadPoolTest, DefaultSizeIsAtLeastOne) {
  ThreadPool pool;
  EXPECT_GE(pool.size(), 1);
  int64_t sum = 0;
  pool.ParallelFor(1, [&](int64_t b, int64_t e) { sum += e - b; });
  EXPECT_EQ(sum, 1);
}

}  // namespace
}  // namespace g4
