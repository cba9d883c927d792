// Dequantizer tests. Blocks of every format are assembled by hand from "logical" values
// (per-value quants, per-sub-block scales and mins) following the ggml block layouts, and the
// expected floats are computed from those logical values, not from the packed bytes. The
// q8_0/q4_0/bf16 tiny models are checked against the f32 model they were converted from.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/half.h"
#include "model/gguf.h"
#include "ops/dtype.h"

namespace g4 {
namespace {

const std::string kModels = std::string(G4_TEST_DATA_DIR) + "/models";

void PutU16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v & 0xff);
  b[at + 1] = static_cast<uint8_t>(v >> 8);
}

std::vector<float> Dequantize(DType type, const std::vector<uint8_t>& bytes, int64_t n) {
  EXPECT_EQ(bytes.size(), RowBytes(type, n));
  std::vector<float> out(static_cast<size_t>(n), -12345.0f);
  DequantizeRow(type, bytes.data(), out.data(), n);
  return out;
}

// Scales below are powers of two (exact in f16) and quants are small integers, so the expected
// values are exact in float and compared with a tolerance only for the order of rounding.
void ExpectClose(const std::vector<float>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-6 * std::max(1.0, std::fabs(want[i]))) << "value " << i;
  }
}

TEST(DTypeTest, TableMatchesGgml) {
  struct Row {
    uint32_t id;
    const char* name;
    int64_t block_elems;
    size_t block_bytes;
  };
  const Row rows[] = {
      {0, "f32", 1, 4},       {1, "f16", 1, 2},       {2, "q4_0", 32, 18},
      {3, "q4_1", 32, 20},    {6, "q5_0", 32, 22},    {7, "q5_1", 32, 24},
      {8, "q8_0", 32, 34},    {9, "q8_1", 32, 36},    {10, "q2_K", 256, 84},
      {11, "q3_K", 256, 110}, {12, "q4_K", 256, 144}, {13, "q5_K", 256, 176},
      {14, "q6_K", 256, 210}, {15, "q8_K", 256, 292}, {30, "bf16", 1, 2},
  };
  for (const Row& row : rows) {
    const std::optional<DTypeInfo> info = LookupDType(row.id);
    ASSERT_TRUE(info.has_value()) << row.id;
    EXPECT_EQ(static_cast<uint32_t>(info->type), row.id);
    EXPECT_EQ(info->name, row.name);
    EXPECT_EQ(info->block_elems, row.block_elems) << row.name;
    EXPECT_EQ(info->block_bytes, row.block_bytes) << row.name;
    EXPECT_EQ(DTypeName(info->type), row.name);
    EXPECT_EQ(Info(info->type).block_bytes, row.block_bytes);
  }
  for (uint32_t unknown : {4u, 5u, 16u, 20u, 29u, 31u, 99u, 0xffffffffu}) {
    EXPECT_FALSE(LookupDType(unknown).has_value()) << unknown;
  }
}

TEST(DTypeTest, RowBytes) {
  EXPECT_EQ(RowBytes(DType::kF32, 7), 28u);
  EXPECT_EQ(RowBytes(DType::kF16, 3), 6u);
  EXPECT_EQ(RowBytes(DType::kBF16, 5), 10u);
  EXPECT_EQ(RowBytes(DType::kQ4_0, 64), 36u);
  EXPECT_EQ(RowBytes(DType::kQ8_0, 96), 102u);
  EXPECT_EQ(RowBytes(DType::kQ4_K, 512), 288u);
  EXPECT_EQ(RowBytes(DType::kQ6_K, 256), 210u);
  EXPECT_EQ(RowBytes(DType::kQ4_0, 0), 0u);
  EXPECT_THROW(RowBytes(DType::kQ4_0, 33), Error);
  EXPECT_THROW(RowBytes(DType::kQ4_K, 128), Error);
}

TEST(DequantizeTest, RejectsPartialBlocks) {
  std::vector<uint8_t> bytes(64);
  std::vector<float> out(64);
  EXPECT_THROW(DequantizeRow(DType::kQ4_0, bytes.data(), out.data(), 31), Error);
  EXPECT_THROW(DequantizeRow(DType::kQ8_0, bytes.data(), out.data(), 48), Error);
  EXPECT_THROW(DequantizeRow(DType::kQ4_K, bytes.data(), out.data(), 32), Error);
}

TEST(DequantizeTest, PlainFloats) {
  const float f32[] = {1.5f, -0.0f, 3.0e-38f, -65504.0f};
  std::vector<float> out(4);
  DequantizeRow(DType::kF32, f32, out.data(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(std::memcmp(&out[i], &f32[i], 4), 0);

  // f16: 1, -2, 1/3 rounded, smallest subnormal 2^-24, largest finite, +inf.
  const uint16_t f16[] = {0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff, 0x7c00};
  out.resize(6);
  DequantizeRow(DType::kF16, f16, out.data(), 6);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], 0.333251953125f);
  EXPECT_EQ(out[3], std::ldexp(1.0f, -24));
  EXPECT_EQ(out[4], 65504.0f);
  EXPECT_TRUE(std::isinf(out[5]) && out[5] > 0);

  // bf16 is the top half of an f32.
  const uint16_t bf16[] = {0x3f80, 0xc0a0, 0x3eab, 0x0000};
  out.resize(4);
  DequantizeRow(DType::kBF16, bf16, out.data(), 4);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -5.0f);
  EXPECT_EQ(out[2], 0.333984375f);
  EXPECT_EQ(out[3], 0.0f);
}

// --- 32-value block formats -------------------------------------------------------------

// Legacy blocks store value j (< 16) in the low nibble of byte j and value j + 16 in its high
// nibble.
void PackNibbles(const std::vector<int>& q, std::vector<uint8_t>& b, size_t at) {
  for (int j = 0; j < 16; ++j) b[at + j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4));
}

// The fifth bits of Q5_x: bit i of a little-endian uint32 belongs to value i.
void PackFifthBits(const std::vector<int>& q, std::vector<uint8_t>& b, size_t at) {
  uint32_t qh = 0;
  for (int i = 0; i < 32; ++i) qh |= static_cast<uint32_t>((q[i] >> 4) & 1) << i;
  for (int k = 0; k < 4; ++k) b[at + k] = static_cast<uint8_t>(qh >> (8 * k));
}

TEST(DequantizeTest, Q4_0AndQ4_1) {
  std::mt19937 rng(7);
  const int kBlocks = 3;
  std::vector<uint8_t> q40(18 * kBlocks), q41(20 * kBlocks);
  std::vector<double> want40, want41;
  const double ds[] = {0.5, -0.125, 2.0};
  const double ms[] = {-1.0, 0.25, 3.5};
  for (int b = 0; b < kBlocks; ++b) {
    std::vector<int> q(32);
    for (int& v : q) v = static_cast<int>(rng() % 16);
    q[0] = 0;
    q[31] = 15;
    PutU16(q40, 18 * b, FloatToHalf(static_cast<float>(ds[b])));
    PackNibbles(q, q40, 18 * b + 2);
    PutU16(q41, 20 * b, FloatToHalf(static_cast<float>(ds[b])));
    PutU16(q41, 20 * b + 2, FloatToHalf(static_cast<float>(ms[b])));
    PackNibbles(q, q41, 20 * b + 4);
    for (int i = 0; i < 32; ++i) {
      want40.push_back((q[i] - 8) * ds[b]);
      want41.push_back(q[i] * ds[b] + ms[b]);
    }
  }
  ExpectClose(Dequantize(DType::kQ4_0, q40, 32 * kBlocks), want40);
  ExpectClose(Dequantize(DType::kQ4_1, q41, 32 * kBlocks), want41);
}

TEST(DequantizeTest, Q5_0AndQ5_1) {
  std::mt19937 rng(11);
  const int kBlocks = 2;
  std::vector<uint8_t> q50(22 * kBlocks), q51(24 * kBlocks);
  std::vector<double> want50, want51;
  const double ds[] = {0.25, -4.0};
  const double ms[] = {1.5, -0.5};
  for (int b = 0; b < kBlocks; ++b) {
    std::vector<int> q(32);
    for (int& v : q) v = static_cast<int>(rng() % 32);
    q[3] = 31;
    q[20] = 16;  // a set fifth bit in the upper half
    q[5] = 0;
    PutU16(q50, 22 * b, FloatToHalf(static_cast<float>(ds[b])));
    PackFifthBits(q, q50, 22 * b + 2);
    PackNibbles(q, q50, 22 * b + 6);
    PutU16(q51, 24 * b, FloatToHalf(static_cast<float>(ds[b])));
    PutU16(q51, 24 * b + 2, FloatToHalf(static_cast<float>(ms[b])));
    PackFifthBits(q, q51, 24 * b + 4);
    PackNibbles(q, q51, 24 * b + 8);
    for (int i = 0; i < 32; ++i) {
      want50.push_back((q[i] - 16) * ds[b]);
      want51.push_back(q[i] * ds[b] + ms[b]);
    }
  }
  ExpectClose(Dequantize(DType::kQ5_0, q50, 32 * kBlocks), want50);
  ExpectClose(Dequantize(DType::kQ5_1, q51, 32 * kBlocks), want51);
}

TEST(DequantizeTest, Q8_0AndQ8_1) {
  std::mt19937 rng(13);
  const int kBlocks = 2;
  std::vector<uint8_t> q80(34 * kBlocks), q81(36 * kBlocks);
  std::vector<double> want;
  const double ds[] = {0.0078125, -3.0};
  for (int b = 0; b < kBlocks; ++b) {
    std::vector<int> q(32);
    int sum = 0;
    for (int& v : q) {
      v = static_cast<int>(rng() % 256) - 128;
      sum += v;
    }
    q[1] = -128;
    q[2] = 127;
    PutU16(q80, 34 * b, FloatToHalf(static_cast<float>(ds[b])));
    PutU16(q81, 36 * b, FloatToHalf(static_cast<float>(ds[b])));
    PutU16(q81, 36 * b + 2, FloatToHalf(static_cast<float>(ds[b] * sum)));
    for (int i = 0; i < 32; ++i) {
      q80[34 * b + 2 + i] = static_cast<uint8_t>(q[i]);
      q81[36 * b + 4 + i] = static_cast<uint8_t>(q[i]);
      want.push_back(q[i] * ds[b]);
    }
  }
  ExpectClose(Dequantize(DType::kQ8_0, q80, 32 * kBlocks), want);
  ExpectClose(Dequantize(DType::kQ8_1, q81, 32 * kBlocks), want);
}

// --- K quants (256-value super-blocks) ----------------------------------------------------

// Q4_K/Q5_K scale packing as ggml's quantizer writes it: sub-blocks 0-3 put their 6-bit scale
// in bytes 0-3 and min in bytes 4-7; sub-blocks 4-7 put the low nibbles of scale and min in
// byte j + 4 and their top two bits into bits 6-7 of bytes j - 4 (scale) and j (min).
void PackScalesK4(const int* scale, const int* min, uint8_t* out) {
  std::memset(out, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      out[j] = static_cast<uint8_t>(scale[j]);
      out[j + 4] = static_cast<uint8_t>(min[j]);
    } else {
      out[j + 4] = static_cast<uint8_t>((scale[j] & 15) | ((min[j] & 15) << 4));
      out[j - 4] |= static_cast<uint8_t>((scale[j] >> 4) << 6);
      out[j] |= static_cast<uint8_t>((min[j] >> 4) << 6);
    }
  }
}

struct KBlock {
  std::vector<int> q = std::vector<int>(256);
  int scale[16] = {};
  int min[16] = {};
};

// 2-bit quants as Q2_K and Q3_K store them: value e sits in byte 32 * (e / 128) + e % 32 at
// bit 2 * ((e / 32) % 4).
void PackTwoBit(const std::vector<int>& q, uint8_t* out) {
  std::memset(out, 0, 64);
  for (int e = 0; e < 256; ++e) {
    out[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((q[e] & 3) << (2 * ((e / 32) % 4)));
  }
}

TEST(DequantizeTest, Q2_K) {
  std::mt19937 rng(21);
  const double d = 0.125, dmin = 0.0625;
  std::vector<uint8_t> bytes(84 * 2);
  std::vector<double> want;
  for (int b = 0; b < 2; ++b) {
    KBlock k;
    for (int& v : k.q) v = static_cast<int>(rng() % 4);
    for (int i = 0; i < 16; ++i) {
      k.scale[i] = static_cast<int>(rng() % 16);
      k.min[i] = static_cast<int>(rng() % 16);
    }
    k.scale[15] = 15;
    k.min[0] = 15;
    uint8_t* blk = bytes.data() + 84 * b;
    for (int i = 0; i < 16; ++i) blk[i] = static_cast<uint8_t>(k.scale[i] | (k.min[i] << 4));
    PackTwoBit(k.q, blk + 16);
    PutU16(bytes, 84 * b + 80, FloatToHalf(static_cast<float>(d * (b + 1))));
    PutU16(bytes, 84 * b + 82, FloatToHalf(static_cast<float>(dmin * (b + 1))));
    for (int e = 0; e < 256; ++e) {
      want.push_back(d * (b + 1) * k.scale[e / 16] * k.q[e] - dmin * (b + 1) * k.min[e / 16]);
    }
  }
  ExpectClose(Dequantize(DType::kQ2_K, bytes, 512), want);
}

TEST(DequantizeTest, Q3_K) {
  std::mt19937 rng(22);
  std::vector<uint8_t> bytes(110 * 2);
  std::vector<double> want;
  for (int b = 0; b < 2; ++b) {
    const double d = b == 0 ? 0.5 : -0.03125;
    std::vector<int> q(256);  // signed quants in [-4, 3]
    int scale[16];            // signed scales in [-32, 31]
    for (int& v : q) v = static_cast<int>(rng() % 8) - 4;
    for (int& s : scale) s = static_cast<int>(rng() % 64) - 32;
    scale[0] = -32;
    scale[13] = 31;
    uint8_t* blk = bytes.data() + 110 * b;
    // High bit (set when the stored value q + 4 >= 4) of value e: bit e / 32 of byte e % 32.
    std::vector<int> low(256);
    for (int e = 0; e < 256; ++e) {
      const int stored = q[e] + 4;
      if (stored >= 4) blk[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
      low[e] = stored & 3;
    }
    PackTwoBit(low, blk + 32);
    // Scales: biased by 32; low nibble in byte i (i < 8) or the high nibble of byte i - 8,
    // top two bits in byte 8 + i % 4 at bit 2 * (i / 4).
    uint8_t* packed = blk + 96;
    for (int i = 0; i < 16; ++i) {
      const int s = scale[i] + 32;
      if (i < 8) {
        packed[i] |= static_cast<uint8_t>(s & 15);
      } else {
        packed[i - 8] |= static_cast<uint8_t>((s & 15) << 4);
      }
      packed[8 + i % 4] |= static_cast<uint8_t>((s >> 4) << (2 * (i / 4)));
    }
    PutU16(bytes, 110 * b + 108, FloatToHalf(static_cast<float>(d)));
    for (int e = 0; e < 256; ++e) want.push_back(d * scale[e / 16] * q[e]);
  }
  ExpectClose(Dequantize(DType::kQ3_K, bytes, 512), want);
}

TEST(DequantizeTest, Q4_K) {
  std::mt19937 rng(23);
  std::vector<uint8_t> bytes(144 * 2);
  std::vector<double> want;
  for (int b = 0; b < 2; ++b) {
    const double d = b == 0 ? 0.0625 : 0.5, dmin = b == 0 ? 0.125 : -0.25;
    KBlock k;
    for (int& v : k.q) v = static_cast<int>(rng() % 16);
    for (int i = 0; i < 8; ++i) {
      k.scale[i] = static_cast<int>(rng() % 64);
      k.min[i] = static_cast<int>(rng() % 64);
    }
    k.scale[5] = 63;  // all six bits set where the packing splits them
    k.min[6] = 63;
    k.scale[2] = 63;
    uint8_t* blk = bytes.data() + 144 * b;
    PutU16(bytes, 144 * b, FloatToHalf(static_cast<float>(d)));
    PutU16(bytes, 144 * b + 2, FloatToHalf(static_cast<float>(dmin)));
    PackScalesK4(k.scale, k.min, blk + 4);
    // Sub-block s (32 values) uses bytes 32 * (s / 2) .. + 31: low nibbles for even s.
    for (int e = 0; e < 256; ++e) {
      const int s = e / 32;
      blk[16 + 32 * (s / 2) + e % 32] |= static_cast<uint8_t>(k.q[e] << (4 * (s % 2)));
      want.push_back(d * k.scale[s] * k.q[e] - dmin * k.min[s]);
    }
  }
  ExpectClose(Dequantize(DType::kQ4_K, bytes, 512), want);
}

TEST(DequantizeTest, Q5_K) {
  std::mt19937 rng(24);
  std::vector<uint8_t> bytes(176 * 2);
  std::vector<double> want;
  for (int b = 0; b < 2; ++b) {
    const double d = b == 0 ? 0.25 : 0.015625, dmin = b == 0 ? 0.5 : 1.0;
    KBlock k;
    for (int& v : k.q) v = static_cast<int>(rng() % 32);
    for (int i = 0; i < 8; ++i) {
      k.scale[i] = static_cast<int>(rng() % 64);
      k.min[i] = static_cast<int>(rng() % 64);
    }
    k.scale[7] = 63;
    k.min[4] = 48;
    uint8_t* blk = bytes.data() + 176 * b;
    PutU16(bytes, 176 * b, FloatToHalf(static_cast<float>(d)));
    PutU16(bytes, 176 * b + 2, FloatToHalf(static_cast<float>(dmin)));
    PackScalesK4(k.scale, k.min, blk + 4);
    // Fifth bit of value e: bit e / 32 of qh byte e % 32; nibbles as Q4_K.
    for (int e = 0; e < 256; ++e) {
      const int s = e / 32;
      blk[16 + e % 32] |= static_cast<uint8_t>((k.q[e] >> 4) << s);
      blk[48 + 32 * (s / 2) + e % 32] |= static_cast<uint8_t>((k.q[e] & 15) << (4 * (s % 2)));
      want.push_back(d * k.scale[s] * k.q[e] - dmin * k.min[s]);
    }
  }
  ExpectClose(Dequantize(DType::kQ5_K, bytes, 512), want);
}

TEST(DequantizeTest, Q6_K) {
  std::mt19937 rng(25);
  std::vector<uint8_t> bytes(210 * 2);
  std::vector<double> want;
  for (int b = 0; b < 2; ++b) {
    const double d = b == 0 ? 0.03125 : -2.0;
    std::vector<int> q(256);  // signed quants in [-32, 31]
    int scale[16];            // int8 scales
    for (int& v : q) v = static_cast<int>(rng() % 64) - 32;
    for (int& s : scale) s = static_cast<int>(rng() % 256) - 128;
    q[0] = -32;
    q[255] = 31;
    scale[3] = 127;
    scale[9] = -128;
    uint8_t* blk = bytes.data() + 210 * b;
    // In each half of 128 values, value 32 * g + l keeps its low nibble in ql byte
    // l + 32 * (g % 2) (the high nibble when g >= 2) and its top two bits in qh byte l at
    // bit 2 * g.
    for (int e = 0; e < 256; ++e) {
      const int stored = q[e] + 32;
      const int half = e / 128, g = (e % 128) / 32, l = e % 32;
      blk[64 * half + l + 32 * (g % 2)] |= static_cast<uint8_t>((stored & 15) << (4 * (g / 2)));
      blk[128 + 32 * half + l] |= static_cast<uint8_t>((stored >> 4) << (2 * g));
    }
    for (int i = 0; i < 16; ++i) blk[192 + i] = static_cast<uint8_t>(static_cast<int8_t>(scale[i]));
    PutU16(bytes, 210 * b + 208, FloatToHalf(static_cast<float>(d)));
    for (int e = 0; e < 256; ++e) want.push_back(d * scale[e / 16] * q[e]);
  }
  ExpectClose(Dequantize(DType::kQ6_K, bytes, 512), want);
}

TEST(DequantizeTest, Q8_K) {
  std::mt19937 rng(26);
  std::vector<uint8_t> bytes(292 * 2);
  std::vector<double> want;
  for (int b = 0; b < 2; ++b) {
    const float d = b == 0 ? 0.1f : -7.25f;  // an f32 scale: need not be exact in f16
    std::memcpy(bytes.data() + 292 * b, &d, 4);
    std::vector<int> q(256);
    for (int& v : q) v = static_cast<int>(rng() % 256) - 128;
    for (int e = 0; e < 256; ++e) {
      bytes[292 * b + 4 + e] = static_cast<uint8_t>(q[e]);
      want.push_back(static_cast<double>(d) * q[e]);
    }
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int e = 16 * g; e < 16 * g + 16; ++e) sum += q[e];
      PutU16(bytes, 292 * b + 260 + 2 * g, static_cast<uint16_t>(static_cast<int16_t>(sum)));
    }
  }
  ExpectClose(Dequantize(DType::kQ8_K, bytes, 512), want);
}

// --- the tiny models: every quantized tensor against the f32 original --------------------

std::vector<float> DequantizeTensor(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  for (int64_t r = 0; r < t.n_rows(); ++r) {
    DequantizeRow(t.type, t.row(r), out.data() + r * t.shape[0], t.shape[0]);
  }
  return out;
}

struct Comparison {
  int quantized_tensors = 0;
  int f32_tensors = 0;
  int other_tensors = 0;
};

// Per-block bounds: Q8_0 rounds x / d to the nearest step (error <= d / 2, plus the f16
// rounding of d); Q4_0 uses d = max / -8 and clamps the top step, so error <= |d|.
void CompareWithF32(const std::string& preset, const std::string& format, Comparison& c) {
  const std::string name = preset + "." + format;
  auto ref = GgufFile::Open(kModels + "/" + preset + ".f32.gguf");
  auto test = GgufFile::Open(kModels + "/" + name + ".gguf");
  EXPECT_EQ(ref->tensors().size(), test->tensors().size());
  for (const TensorView& t : test->tensors()) {
    SCOPED_TRACE(name + ": " + t.name);
    const TensorView* r = ref->FindTensor(t.name);
    if (r == nullptr) {
      ADD_FAILURE() << "not in the f32 file";
      continue;
    }
    EXPECT_EQ(r->type, DType::kF32);
    EXPECT_EQ(r->shape, t.shape);
    if (r->shape != t.shape) continue;
    const std::vector<float> want = DequantizeTensor(*r);
    const std::vector<float> got = DequantizeTensor(t);
    double sum_err_over_step = 0;
    switch (t.type) {
      case DType::kF32:
        ++c.f32_tensors;
        EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0);
        break;
      case DType::kF16:
      case DType::kBF16: {
        ++c.other_tensors;
        const double rel = t.type == DType::kF16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_NEAR(got[i], want[i], std::fabs(want[i]) * rel + 1e-7) << "value " << i;
        }
        break;
      }
      case DType::kQ8_0:
      case DType::kQ4_0: {
        ++c.quantized_tensors;
        const bool q8 = t.type == DType::kQ8_0;
        const size_t block_bytes = q8 ? 34 : 18;
        const size_t n_blocks = got.size() / 32;
        for (size_t b = 0; b < n_blocks; ++b) {
          const uint8_t* blk = t.data + b * block_bytes;
          const double d = std::fabs(HalfToFloat(static_cast<uint16_t>(blk[0] | (blk[1] << 8))));
          const double bound = (q8 ? 0.5 + 127 * std::ldexp(1.0, -11) : 1.0 + 8 * std::ldexp(1.0, -11)) * d;
          for (size_t i = 32 * b; i < 32 * b + 32; ++i) {
            const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
            ASSERT_LE(err, bound + 1e-7) << "value " << i << " d " << d;
            if (d > 0) sum_err_over_step += err / d;
          }
        }
        // Rounding error averages about a quarter of a step: a mis-ordered layout would not.
        EXPECT_LT(sum_err_over_step / static_cast<double>(got.size()), 0.3);
        break;
      }
      default:
        ADD_FAILURE() << "unexpected type " << DTypeName(t.type);
    }
  }
}

TEST(DequantizeTest, TinyQ8_0MatchesF32) {
  Comparison c;
  CompareWithF32("tiny-all", "q8_0", c);
  EXPECT_GT(c.quantized_tensors, 50);
  EXPECT_GT(c.f32_tensors, 50);  // norms and scales stay f32
}

TEST(DequantizeTest, TinyQ4_0MatchesF32) {
  Comparison c;
  CompareWithF32("tiny-all", "q4_0", c);
  EXPECT_GT(c.quantized_tensors, 50);
  EXPECT_GT(c.f32_tensors, 50);
  EXPECT_GT(c.other_tensors, 0);  // rows too short for q4_0 blocks fall back to f16
}

TEST(DequantizeTest, TinyDenseQ4_0MatchesF32) {
  Comparison c;
  CompareWithF32("tiny-dense", "q4_0", c);
  EXPECT_GT(c.quantized_tensors, 20);
}

TEST(DequantizeTest, TinyBf16MatchesF32) {
  Comparison c;
  CompareWithF32("tiny-all", "bf16", c);
  EXPECT_GT(c.other_tensors, 50);
}

}  // namespace
}  // namespace g4
