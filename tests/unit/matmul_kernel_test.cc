// The SIMD kernel tables (src/ops/kernels.h) against their scalar reference twin, on every
// level this CPU supports, and MatMul on every level against a double-precision product with
// the error bound of its activation quantization.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <cmath>
#include <cstdint>
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

std::vector<float> RandomFloats(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Activations with the shapes real ones have: mostly small values, a few large outliers, some
// all-zero blocks, some positive-only blocks.
std::vector<float> ActivationLike(std::mt19937& rng, int64_t k) {
  std::vector<float> x = RandomFloats(rng, k);
  std::uniform_int_distribution<int> pick(0, 99);
  for (int64_t b = 0; b < k / 32; ++b) {
    const int kind = pick(rng);
    for (int j = 0; j < 32; ++j) {
      float& v = x[b * 32 + j];
      if (kind < 5) v = 0.0f;
      if (kind >= 5 && kind < 15) v = std::fabs(v) * 3.0f;
      if (kind >= 15 && kind < 20 && j == 7) v = 250.0f;
      if (kind >= 20 && kind < 25) v *= 1e-4f;
    }
  }
  return x;
}

std::vector<uint8_t> RandomRows(DType type, int64_t rows, int64_t k, std::mt19937& rng) {
  const size_t row_bytes = RowBytes(type, k);
  std::vector<uint8_t> data(row_bytes * rows);
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> values = RandomFloats(rng, k, 0.1f);
    QuantizeRow(type, values.data(), data.data() + r * row_bytes, k);
  }
  return data;
}

std::vector<SimdLevel> FastLevels() {
  std::vector<SimdLevel> out;
  for (SimdLevel l : SupportedSimdLevels()) {
    if (l != SimdLevel::kScalar) out.push_back(l);
  }
  return out;
}

TEST(ThreadPoolDynamicTest, CoversRangeExactlyOnceInChunks) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 5, 64, 1000}) {
      for (int64_t chunk : {1, 3, 64, 5000}) {
        std::vector<std::atomic<int>> hits(n);
        std::atomic<bool> bad{false};
        pool.ParallelForDynamic(n, chunk, [&](int64_t begin, int64_t end) {
          if (begin < 0 || end > n || begin >= end || end - begin > chunk || begin % chunk != 0) bad = true;
          for (int64_t i = begin; i < end; ++i) ++hits[i];
        });
        EXPECT_FALSE(bad) << "threads " << threads << " n " << n << " chunk " << chunk;
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i;
      }
    }
  }
}

TEST(ThreadPoolDynamicTest, ExceptionsReachTheCaller) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.ParallelForDynamic(100, 7,
                                       [](int64_t begin, int64_t) {
                                         if (begin == 49) throw std::runtime_error("chunk failed");
                                       }),
               std::runtime_error);
  int64_t sum = 0;
  pool.ParallelForDynamic(10, 100, [&](int64_t b, int64_t e) { sum += e - b; });
  EXPECT_EQ(sum, 10);
}

TEST(SimdLevelTest, ScalarAlwaysSupportedAndSettable) {
  const std::vector<SimdLevel> levels = SupportedSimdLevels();
  ASSERT_FALSE(levels.empty());
  EXPECT_EQ(levels.front(), SimdLevel::kScalar);
  for (SimdLevel l : levels) {
    ScopedSimdLevel scoped(l);
    EXPECT_EQ(ActiveSimdLevel(), l);
    EXPECT_EQ(ActiveKernels().level, l);
  }
  std::printf("SIMD levels on this CPU:");
  for (SimdLevel l : levels) std::printf(" %s", SimdLevelName(l));
  std::printf("\n");
}

// Sum over the row of |w_i| * |x_i| (dequantized): the scale of float rounding in a dot.
double Magnitude(DType type, const uint8_t* row, const float* x, int64_t k) {
  std::vector<float> w(k);
  DequantizeRow(type, row, w.data(), k);
  double m = 0;
  for (int64_t i = 0; i < k; ++i) m += std::fabs(static_cast<double>(w[i]) * x[i]);
  return m;
}

// The activations for rows of `type`: int16 (with the grouped copy) for Q8_0, asymmetric bytes
// for Q4_0 (kernels.h).
struct Quantized {
  std::vector<int16_t> q, grouped;
  std::vector<float> d;
  std::vector<int32_t> s;
  std::vector<uint8_t> u8, grouped_u8;
  std::vector<float> mn;
  QActs acts(int64_t n, int64_t k, bool with_grouped) const {
    QActs a{q.data(), with_grouped ? grouped.data() : nullptr, d.data(), s.data(), n, k};
    if (!u8.empty()) {
      a.u8 = u8.data();
      a.mn = mn.data();
      if (with_grouped) a.grouped_u8 = grouped_u8.data();
    }
    return a;
  }
};

Quantized Quantize(const KernelTable& kt, const std::vector<float>& x, int64_t n, int64_t k,
                   DType type = DType::kQ8_0) {
  Quantized out;
  const int64_t nbp = PaddedBlocks(k);
  out.q.resize(n * k);
  out.grouped.resize(n * nbp * 32);
  out.d.resize(n * nbp);
  out.s.resize(n * nbp);
  for (int64_t t = 0; t < n; ++t) {
    kt.quantize_acts(x.data() + t * k, k, out.q.data() + t * k, out.d.data() + t * nbp);
    GroupActs(out.q.data() + t * k, k, out.grouped.data() + t * nbp * 32);
  }
  if (UsesU8Acts(type)) {
    const int64_t bytes = U8TokenBytes(k);
    out.u8.resize(n * bytes);
    out.grouped_u8.resize(n * bytes);
    out.mn.resize(n * nbp);
    for (int64_t t = 0; t < n; ++t) {
      kt.quantize_acts_u8(x.data() + t * k, k, out.u8.data() + t * bytes, out.d.data() + t * nbp,
                          out.mn.data() + t * nbp, out.s.data() + t * nbp);
      kt.group_acts_u8(out.u8.data() + t * bytes, k, out.grouped_u8.data() + t * bytes);
    }
  }
  return out;
}

TEST(QuantizeActsTest, ActPosIsAPermutation) {
  std::vector<int> seen(32, 0);
  for (int j = 0; j < 32; ++j) ++seen[ActPos(j)];
  for (int j = 0; j < 32; ++j) EXPECT_EQ(seen[j], 1) << "position " << j;
}

TEST(QuantizeActsTest, ScalarIsWithinHalfAStep) {
  std::mt19937 rng(1);
  const int64_t k = 1056;  // 33 blocks: the last lane group is padded
  const std::vector<float> x = ActivationLike(rng, k);
  const Quantized qa = Quantize(ScalarKernels(), x, 1, k);
  ASSERT_EQ(PaddedBlocks(k), 40);
  for (int64_t b = 0; b < k / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    EXPECT_FLOAT_EQ(qa.d[b], amax / 32767.0f);
    for (int j = 0; j < 32; ++j) {
      const int64_t i = b * 32 + j;
      const int16_t q = qa.q[b * 32 + ActPos(j)];
      EXPECT_LE(std::fabs(q * qa.d[b] - x[i]), 0.5001f * qa.d[b] + 1e-30f) << "value " << i;
    }
  }
  for (int64_t b = k / 32; b < 40; ++b) EXPECT_EQ(qa.d[b], 0.0f);
}

TEST(QuantizeActsTest, EveryLevelMatchesScalarExactly) {
  std::mt19937 rng(2);
  for (SimdLevel level : FastLevels()) {
    SCOPED_TRACE(SimdLevelName(level));
    for (int64_t k : {32, 64, 96, 1536, 12288}) {
      const std::vector<float> x = ActivationLike(rng, k);
      const Quantized want = Quantize(ScalarKernels(), x, 1, k);
      const Quantized got = Quantize(KernelsFor(level), x, 1, k);
      ASSERT_EQ(got.q, want.q) << "k " << k;
      ASSERT_EQ(got.d, want.d) << "k " << k;
    }
  }
}

TEST(QuantizeActsU8Test, PositionsAndSlotsArePermutations) {
  const int64_t k = 1056, nbp = PaddedBlocks(k);
  std::vector<int> pos(U8TokenBytes(k), 0), slot(nbp, 0);
  for (int64_t b = 0; b < nbp; ++b) {
    ++slot[U8Slot(b)];
    EXPECT_EQ(U8Slot(b) / 8, b / 8) << "block " << b << " leaves its lane group";
    for (int j = 0; j < 32; ++j) ++pos[U8Pos(b, j)];
  }
  for (int c : pos) ASSERT_EQ(c, 1);
  for (int c : slot) ASSERT_EQ(c, 1);
}

// The bytes against the scheme's definition (kernels.h): per block, the minimum, a step of
// (max - min) / 255, every value within half a step, eight times the byte sum; zeros past k.
TEST(QuantizeActsU8Test, ScalarBytesFollowTheDefinition) {
  std::mt19937 rng(3);
  const int64_t k = 1056;  // 33 blocks: an odd block count and a padded lane group
  const std::vector<float> x = ActivationLike(rng, k);
  const Quantized qa = Quantize(ScalarKernels(), x, 1, k, DType::kQ4_0);
  for (int64_t b = 0; b < k / 32; ++b) {
    const float lo = *std::min_element(&x[b * 32], &x[b * 32] + 32);
    const float hi = *std::max_element(&x[b * 32], &x[b * 32] + 32);
    const int64_t slot = U8Slot(b);
    EXPECT_EQ(qa.mn[slot], lo) << "block " << b;
    EXPECT_EQ(qa.d[slot], (hi - lo) / 255.0f) << "block " << b;
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      const uint8_t u = qa.u8[U8Pos(b, j)];
      EXPECT_LE(std::fabs(lo + u * qa.d[slot] - x[b * 32 + j]), 0.5001f * qa.d[slot] + 1e-6f * std::fabs(lo))
          << "block " << b << " value " << j;
      sum += u;
    }
    EXPECT_EQ(qa.s[slot], 8 * sum) << "block " << b;
  }
  for (int64_t b = k / 32; b < PaddedBlocks(k); ++b) {
    EXPECT_EQ(qa.d[U8Slot(b)], 0.0f);
    EXPECT_EQ(qa.mn[U8Slot(b)], 0.0f);
    EXPECT_EQ(qa.s[U8Slot(b)], 0);
    for (int j = 0; j < 32; ++j) ASSERT_EQ(qa.u8[U8Pos(b, j)], 0) << "padding block " << b;
  }
}

TEST(QuantizeActsU8Test, EveryLevelMatchesScalarExactly) {
  std::mt19937 rng(4);
  for (SimdLevel level : FastLevels()) {
    SCOPED_TRACE(SimdLevelName(level));
    for (int64_t k : {32, 64, 96, 1056, 1536, 12288}) {
      const std::vector<float> x = ActivationLike(rng, k);
      const Quantized want = Quantize(ScalarKernels(), x, 1, k, DType::kQ4_0);
      const Quantized got = Quantize(KernelsFor(level), x, 1, k, DType::kQ4_0);
      ASSERT_EQ(got.u8, want.u8) << "k " << k;
      ASSERT_EQ(got.grouped_u8, want.grouped_u8) << "k " << k;
      ASSERT_EQ(got.d, want.d) << "k " << k;
      ASSERT_EQ(got.mn, want.mn) << "k " << k;
      ASSERT_EQ(got.s, want.s) << "k " << k;
    }
  }
}

TEST(QuantizeActsU8Test, GroupedLayoutPutsOneBlockInEachLane) {
  const int64_t k = 320;  // 10 blocks: a full lane group and a padded one
  std::vector<uint8_t> u(U8TokenBytes(k), 0);
  for (int64_t b = 0; b < 10; ++b) {
    for (int j = 0; j < 32; ++j) u[U8Pos(b, j)] = static_cast<uint8_t>(1 + (b * 32 + j) % 251);
  }
  std::vector<uint8_t> g(U8TokenBytes(k), 99);
  GroupActsU8(u.data(), k, g.data());
  for (int64_t b = 0; b < PaddedBlocks(k); ++b) {
    for (int j = 0; j < 32; ++j) {
      const uint8_t want = b < 10 ? static_cast<uint8_t>(1 + (b * 32 + j) % 251) : 0;
      ASSERT_EQ(g[b / 8 * 256 + (j / 4) * 32 + U8Lane(b) * 4 + j % 4], want) << "block " << b << " value " << j;
    }
  }
}

TEST(QuantizeActsTest, GroupedLayoutPutsOneBlockInEachLane) {
  const int64_t k = 320;  // 10 blocks: a full lane group and a padded one
  std::vector<int16_t> q(k);
  for (int64_t i = 0; i < k; ++i) q[i] = static_cast<int16_t>(i * 7919 % 65521 - 32760);
  std::vector<int16_t> g(PaddedBlocks(k) * 32, 99);
  GroupActs(q.data(), k, g.data());
  for (int64_t grp = 0; grp < 2; ++grp) {
    for (int j = 0; j < 16; ++j) {
      for (int lane = 0; lane < 8; ++lane) {
        for (int c = 0; c < 2; ++c) {
          const int64_t b = grp * 8 + lane;
          const int16_t want = b < 10 ? q[b * 32 + 2 * j + c] : 0;
          ASSERT_EQ(g[grp * 256 + j * 16 + lane * 2 + c], want) << "group " << grp << " vector " << j << " lane " << lane;
        }
      }
    }
  }
}

// Floats compared bit for bit (so -0 and +0, or two NaNs, would count as different).
::testing::AssertionResult SameBits(const float* a, const float* b, int64_t n) {
  if (std::memcmp(a, b, static_cast<size_t>(n) * sizeof(float)) == 0) return ::testing::AssertionSuccess();
  for (int64_t i = 0; i < n; ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      return ::testing::AssertionFailure() << "index " << i << ": " << a[i] << " vs " << b[i];
    }
  }
  return ::testing::AssertionFailure();
}

// The SIMD matmul kernels follow the same float sequence as the scalar twin (kernels.h), so
// they must agree exactly, in both their decode and prefill loops.
TEST(MatQuantKernelTest, EveryLevelMatchesScalarBitForBit) {
  std::mt19937 rng(3);
  for (SimdLevel level : FastLevels()) {
    const KernelTable& kt = KernelsFor(level);
    for (DType type : {DType::kQ4_0, DType::kQ8_0}) {
      // 12288: rows long enough that the prefill loop packs 21 rows in two blocks.
      for (int64_t k : {32, 96, 256, 288, 704, 1536, 2816, 12288}) {
        for (int64_t n : {1, 2, 3, 4, 5, 9}) {
          SCOPED_TRACE(std::string(SimdLevelName(level)) + " " + std::string(DTypeName(type)) + " k " +
                       std::to_string(k) + " n " + std::to_string(n));
          const int64_t rows = 21;
          // One byte of offset: rows in files are not aligned. Nothing follows the last row, so
          // a read past it would show under the sanitizers.
          std::vector<uint8_t> storage = RandomRows(type, rows, k, rng);
          storage.insert(storage.begin(), 0);
          const uint8_t* w = storage.data() + 1;
          const size_t row_bytes = RowBytes(type, k);
          std::vector<float> x;
          for (int64_t t = 0; t < n; ++t) {
            const std::vector<float> xt = ActivationLike(rng, k);
            x.insert(x.end(), xt.begin(), xt.end());
          }
          const Quantized qa = Quantize(ScalarKernels(), x, n, k, type);
          const int64_t y_stride = rows + 2;
          std::vector<float> want(n * y_stride, -1.0f), got(n * y_stride, -1.0f);
          const MatQuantFn scalar = type == DType::kQ4_0 ? ScalarKernels().matmul_q4_0 : ScalarKernels().matmul_q8_0;
          const MatQuantFn fast = type == DType::kQ4_0 ? kt.matmul_q4_0 : kt.matmul_q8_0;
          scalar(w, row_bytes, 0, rows, qa.acts(n, k, false), want.data(), y_stride);
          fast(w, row_bytes, 11, rows, qa.acts(n, k, true), got.data(), y_stride);
          fast(w, row_bytes, 0, 11, qa.acts(n, k, true), got.data(), y_stride);
          ASSERT_TRUE(SameBits(got.data(), want.data(), n * y_stride));
          std::fill(got.begin(), got.end(), -1.0f);
          fast(w, row_bytes, 0, rows, qa.acts(n, k, true), got.data(), y_stride);
          ASSERT_TRUE(SameBits(got.data(), want.data(), n * y_stride));
          // And the decode loop on the same tokens.
          std::fill(got.begin(), got.end(), -1.0f);
          fast(w, row_bytes, 0, rows, qa.acts(n, k, false), got.data(), y_stride);
          ASSERT_TRUE(SameBits(got.data(), want.data(), n * y_stride));
          for (int64_t t = 0; t < n; ++t) {
            for (int64_t r = 0; r < rows; ++r) {
              double exact = 0, mag = 0;
              std::vector<float> wf(k);
              DequantizeRow(type, w + r * row_bytes, wf.data(), k);
              for (int64_t i = 0; i < k; ++i) {
                const int64_t b = t * PaddedBlocks(k) + i / 32;
                const int64_t slot = t * PaddedBlocks(k) + U8Slot(i / 32);
                const double act =
                    UsesU8Acts(type)
                        ? qa.mn[slot] + static_cast<double>(qa.u8[t * U8TokenBytes(k) + U8Pos(i / 32, i % 32)]) * qa.d[slot]
                        : static_cast<double>(qa.q[t * k + i / 32 * 32 + ActPos(i % 32)]) * qa.d[b];
                const double p = static_cast<double>(wf[i]) * act;
                exact += p;
                mag += std::fabs(p);
              }
              ASSERT_NEAR(want[t * y_stride + r], exact, 1e-6 * mag + 1e-30) << "row " << r << " token " << t;
            }
          }
        }
      }
    }
  }
}

TEST(GemvKernelTest, FloatRowsMatchScalarBitForBit) {
  std::mt19937 rng(4);
  for (SimdLevel level : FastLevels()) {
    const KernelTable& kt = KernelsFor(level);
    for (DType type : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (int64_t k : {1, 7, 8, 33, 100, 256, 2100}) {
        for (size_t misalign : {0, 1, 2}) {
          SCOPED_TRACE(std::string(SimdLevelName(level)) + " " + std::string(DTypeName(type)) + " k " +
                       std::to_string(k) + " misalign " + std::to_string(misalign));
          const int64_t rows = 5, n = 5, x_stride = k + 3;
          std::vector<uint8_t> storage = RandomRows(type, rows, k, rng);
          storage.insert(storage.begin(), misalign, 0);
          const uint8_t* w = storage.data() + misalign;
          const size_t row_bytes = RowBytes(type, k);
          const std::vector<float> x = RandomFloats(rng, n * x_stride);
          const GemvFloatFn scalar = type == DType::kF32   ? ScalarKernels().gemv_f32
                                     : type == DType::kF16 ? ScalarKernels().gemv_f16
                                                           : ScalarKernels().gemv_bf16;
          const GemvFloatFn fast = type == DType::kF32 ? kt.gemv_f32 : type == DType::kF16 ? kt.gemv_f16 : kt.gemv_bf16;
          std::vector<float> want(n * rows), got(n * rows);
          scalar(w, row_bytes, 0, rows, x.data(), n, k, x_stride, want.data(), rows);
          fast(w, row_bytes, 0, rows, x.data(), n, k, x_stride, got.data(), rows);
          ASSERT_TRUE(SameBits(got.data(), want.data(), n * rows));
          for (int64_t t = 0; t < n; ++t) {
            for (int64_t r = 0; r < rows; ++r) {
              double exact = 0;
              std::vector<float> wf(k);
              DequantizeRow(type, w + r * row_bytes, wf.data(), k);
              for (int64_t i = 0; i < k; ++i) exact += static_cast<double>(wf[i]) * x[t * x_stride + i];
              const double tol = 1e-6 * Magnitude(type, w + r * row_bytes, x.data() + t * x_stride, k) + 1e-30;
              ASSERT_NEAR(got[t * rows + r], exact, tol) << "row " << r << " token " << t;
            }
          }
        }
      }
    }
  }
}

TEST(ToFloatKernelTest, EveryLevelMatchesScalarExactly) {
  std::mt19937 rng(5);
  for (SimdLevel level : FastLevels()) {
    const KernelTable& kt = KernelsFor(level);
    const KernelTable& ref = ScalarKernels();
    const struct {
      DType type;
      ToFloatFn fast, scalar;
    } cases[] = {{DType::kQ4_0, kt.to_float_q4_0, ref.to_float_q4_0},
                 {DType::kQ8_0, kt.to_float_q8_0, ref.to_float_q8_0},
                 {DType::kF16, kt.to_float_f16, ref.to_float_f16},
                 {DType::kBF16, kt.to_float_bf16, ref.to_float_bf16}};
    for (const auto& c : cases) {
      for (int64_t k : {32, 64, 1024}) {
        SCOPED_TRACE(std::string(SimdLevelName(level)) + " " + std::string(DTypeName(c.type)) + " k " +
                     std::to_string(k));
        std::vector<uint8_t> storage = RandomRows(c.type, 1, k, rng);
        storage.insert(storage.begin(), 3, 0);
        std::vector<float> want(k), got(k), dequant(k);
        c.scalar(storage.data() + 3, want.data(), k);
        c.fast(storage.data() + 3, got.data(), k);
        DequantizeRow(c.type, storage.data() + 3, dequant.data(), k);
        ASSERT_EQ(got, want);
        ASSERT_EQ(want, dequant);
      }
    }
  }
}

TEST(GemmKernelTest, EveryLevelMatchesScalarBitForBit) {
  std::mt19937 rng(6);
  for (SimdLevel level : FastLevels()) {
    const KernelTable& kt = KernelsFor(level);
    for (int64_t rows : {1, 2, 3, 4, 7, 16}) {
      for (int64_t n : {1, 3, 4, 5, 9}) {
        for (int64_t k : {1, 5, 8, 31, 64, 200}) {
          for (bool accumulate : {false, true}) {
            SCOPED_TRACE(std::string(SimdLevelName(level)) + " rows " + std::to_string(rows) + " n " +
                         std::to_string(n) + " k " + std::to_string(k) + (accumulate ? " accumulate" : ""));
            const int64_t w_stride = k + 1, x_stride = k + 2, y_stride = rows + 1;
            const std::vector<float> w = RandomFloats(rng, rows * w_stride);
            const std::vector<float> x = RandomFloats(rng, n * x_stride);
            const std::vector<float> y0 = RandomFloats(rng, n * y_stride);
            std::vector<float> want = y0, got = y0;
            ScalarKernels().gemm_f32(w.data(), w_stride, rows, x.data(), x_stride, n, k, want.data(), y_stride,
                                     accumulate);
            kt.gemm_f32(w.data(), w_stride, rows, x.data(), x_stride, n, k, got.data(), y_stride, accumulate);
            ASSERT_TRUE(SameBits(got.data(), want.data(), n * y_stride));
            for (int64_t t = 0; t < n; ++t) {
              for (int64_t r = 0; r < y_stride; ++r) {
                const float g = got[t * y_stride + r], e = want[t * y_stride + r];
                if (r >= rows) {
                  ASSERT_EQ(g, y0[t * y_stride + r]) << "wrote past the rows";
                  continue;
                }
                double mag = accumulate ? std::fabs(y0[t * y_stride + r]) : 0.0;
                for (int64_t i = 0; i < k; ++i) mag += std::fabs(w[r * w_stride + i] * x[t * x_stride + i]);
                ASSERT_NEAR(g, e, 1e-6 * mag + 1e-30) << "row " << r << " token " << t;
              }
            }
          }
        }
      }
    }
  }
}

TEST(DotKernelTest, EveryLevelMatchesScalar) {
  std::mt19937 rng(7);
  const std::vector<float> a = RandomFloats(rng, 300), b = RandomFloats(rng, 300);
  for (SimdLevel level : FastLevels()) {
    for (int64_t n : {0, 1, 7, 8, 9, 31, 32, 33, 290}) {
      for (int off : {0, 1, 3}) {
        double mag = 0;
        for (int64_t i = 0; i < n; ++i) mag += std::fabs(a[off + i] * b[i]);
        ASSERT_NEAR(KernelsFor(level).dot_f32(a.data() + off, b.data(), n),
                    ScalarKernels().dot_f32(a.data() + off, b.data(), n), 1e-6 * mag + 1e-30)
            << SimdLevelName(level) << " n " << n << " offset " << off;
      }
    }
  }
}

TEST(VectorMathKernelTest, GeluMulExpSumSquaresAndSoftcapMatchReferenceOnEveryLevel) {
  std::vector<float> x;
  for (float v = -30.0f; v <= 30.0f; v += 0.0137f) x.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-20f, 1e-6f, 0.3124f, 0.3126f, -0.3125f, 95.0f, -95.0f, 1e4f, -1e4f}) {
    x.push_back(v);
  }
  std::mt19937 rng(9);
  const std::vector<float> up = RandomFloats(rng, x.size(), 2.0f);
  for (SimdLevel level : FastLevels()) {
    SCOPED_TRACE(SimdLevelName(level));
    std::vector<float> want = x, got = x;
    ScalarKernels().gelu_mul(want.data(), up.data(), static_cast<int64_t>(x.size()));
    KernelsFor(level).gelu_mul(got.data(), up.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      // 1 - tanh loses bits near -1 in the reference itself, hence the absolute part.
      ASSERT_NEAR(got[i], want[i], 1e-6 * std::fabs(want[i]) + 2e-7 * std::fabs(x[i] * up[i]) + 1e-37) << "x " << x[i];
    }
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{32}, int64_t{37}}) {
      std::vector<float> e = RandomFloats(rng, n, 40.0f);
      const std::vector<float> e0 = e;
      const float shift = 35.0f;
      const float sum = KernelsFor(level).exp_shifted(e.data(), n, shift);
      float want_sum = 0.0f;
      for (int64_t j = 0; j < n; ++j) {
        ASSERT_NEAR(e[j], std::exp(e0[j] - shift), 3e-7 * std::exp(e0[j] - shift) + 2e-38) << "x " << e0[j];
        want_sum += e[j];
      }
      ASSERT_EQ(sum, want_sum) << "the sum is taken in order";
    }
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{8}, int64_t{1536}, int64_t{1541}}) {
      const std::vector<float> v = RandomFloats(rng, n, 50.0f);
      long double exact = 0;
      for (float f : v) exact += static_cast<long double>(f) * f;
      ASSERT_NEAR(KernelsFor(level).sum_squares(v.data(), n), static_cast<double>(exact), 1e-14 * static_cast<double>(exact));
    }
    for (float cap : {30.0f, 10.0f}) {
      want = x;
      got = x;
      ScalarKernels().softcap(want.data(), static_cast<int64_t>(x.size()), cap);
      KernelsFor(level).softcap(got.data(), static_cast<int64_t>(x.size()), cap);
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-6 * std::fabs(want[i]) + 1e-37) << "x " << x[i] << " cap " << cap;
      }
    }
  }
}

// Attention blocks: every level gives the scalar twin's bits, for head groups that take each
// tile shape (and the scalar fallback for head sizes that are not multiples of 8 / 32), and
// blocks with a tail of keys; the scores are also checked against double-precision dots.
TEST(AttentionKernelTest, ScoresAndValuesMatchScalarOnEveryLevel) {
  std::mt19937 rng(11);
  for (SimdLevel level : FastLevels()) {
    SCOPED_TRACE(SimdLevelName(level));
    for (int nq : {1, 2, 3, 4, 8}) {
      for (int64_t hd : {int64_t{12}, int64_t{40}, int64_t{64}, int64_t{256}}) {
        for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{32}}) {
          SCOPED_TRACE("nq " + std::to_string(nq) + " hd " + std::to_string(hd) + " n " + std::to_string(n));
          const std::vector<float> q = RandomFloats(rng, nq * hd, 2.0f), kv = RandomFloats(rng, 2 * n * hd, 2.0f);
          std::vector<const float*> k_rows(n), v_rows(n);
          for (int64_t j = 0; j < n; ++j) {
            k_rows[j] = &kv[j * hd];
            v_rows[j] = &kv[(n + j) * hd];
          }
          std::vector<float> want(nq * n), got(nq * n, -1.0f);
          ScalarKernels().attention_scores(q.data(), nq, hd, k_rows.data(), n, want.data());
          KernelsFor(level).attention_scores(q.data(), nq, hd, k_rows.data(), n, got.data());
          ASSERT_TRUE(SameBits(got.data(), want.data(), nq * n));
          for (int g = 0; g < nq; ++g) {
            for (int64_t j = 0; j < n; ++j) {
              double exact = 0, mag = 0;
              for (int64_t i = 0; i < hd; ++i) {
                exact += static_cast<double>(q[g * hd + i]) * kv[j * hd + i];
                mag += std::fabs(static_cast<double>(q[g * hd + i]) * kv[j * hd + i]);
              }
              ASSERT_NEAR(want[g * n + j], exact, 1e-6 * mag);
            }
          }
          const std::vector<float> p = RandomFloats(rng, nq * n, 1.0f), acc0 = RandomFloats(rng, nq * hd, 3.0f);
          std::vector<float> want_acc = acc0, got_acc = acc0;
          ScalarKernels().attention_values(p.data(), nq, hd, v_rows.data(), n, want_acc.data());
          KernelsFor(level).attention_values(p.data(), nq, hd, v_rows.data(), n, got_acc.data());
          ASSERT_TRUE(SameBits(got_acc.data(), want_acc.data(), nq * hd));
        }
      }
    }
  }
}

// MatMul on every level: decode (1 and 3 tokens) and prefill (8 tokens), against double
// precision. Quantized-activation types may differ by the activation rounding, at most half
// an int16 step per value: sum_i |w_i| * d(block of i) / 2.
TEST(MatMulLevelsTest, EveryLevelWithinTheActivationRoundingBound) {
  std::mt19937 rng(8);
  for (SimdLevel level : SupportedSimdLevels()) {
    ScopedSimdLevel scoped(level);
    for (DType type : {DType::kQ4_0, DType::kQ8_0, DType::kBF16, DType::kF16, DType::kF32, DType::kQ4_K,
                       DType::kQ6_K}) {
      const int64_t k = 512, rows = 70;
      if (k % Info(type).block_elems != 0) continue;
      // K-quants come from random bytes with small scales (QuantizeRow cannot make them).
      std::vector<uint8_t> w_data;
      if (type == DType::kQ4_K || type == DType::kQ6_K) {
        w_data.resize(RowBytes(type, k) * rows);
        for (uint8_t& byte : w_data) byte = static_cast<uint8_t>(rng());
        const size_t block_bytes = Info(type).block_bytes;
        for (size_t b = 0; b < w_data.size(); b += block_bytes) {
          const uint16_t h = FloatToHalf(0.01f);
          std::memcpy(&w_data[b + (type == DType::kQ6_K ? 208 : 0)], &h, 2);
          if (type == DType::kQ4_K) std::memcpy(&w_data[b + 2], &h, 2);
        }
      } else {
        w_data = RandomRows(type, rows, k, rng);
      }
      const WeightRows w{type, w_data.data(), RowBytes(type, k), k, rows};
      for (int64_t n : {1, 3, 8}) {
        SCOPED_TRACE(std::string(SimdLevelName(level)) + " " + std::string(DTypeName(type)) + " tokens " +
                     std::to_string(n));
        std::vector<float> x;
        for (int64_t t = 0; t < n; ++t) {
          const std::vector<float> xt = ActivationLike(rng, k);
          x.insert(x.end(), xt.begin(), xt.end());
        }
        ThreadPool pool(2);
        std::vector<float> y(n * rows);
        MatMul(x.data(), n, k, w, y.data(), rows, &pool);
        const Quantized qa = Quantize(ScalarKernels(), x, n, k, type);
        std::vector<float> row(k);
        for (int64_t r = 0; r < rows; ++r) {
          DequantizeRow(type, w_data.data() + r * w.row_bytes, row.data(), k);
          for (int64_t t = 0; t < n; ++t) {
            double want = 0, mag = 0, rounding = 0;
            for (int64_t i = 0; i < k; ++i) {
              want += static_cast<double>(row[i]) * x[t * k + i];
              mag += std::fabs(static_cast<double>(row[i]) * x[t * k + i]);
              rounding += std::fabs(row[i]) * 0.5 * qa.d[t * PaddedBlocks(k) + i / 32];
            }
            const bool quantized_acts = UsesQuantizedActs(type);
            const double tol = 2e-6 * mag + (quantized_acts ? rounding : 0.0) + 1e-30;
            ASSERT_NEAR(y[t * rows + r], want, tol) << "row " << r << " token " << t;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace g4
