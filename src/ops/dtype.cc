#include "ops/dtype.h"

#include <array>
#include <cstring>

#include "base/error.h"
#include "base/half.h"
#include "ops/dequantize_kquants.h"

namespace g4 {
namespace {

constexpr int64_t kQK = 32;  // values per block of the legacy (non-K) quant types

// Byte sizes of the ggml blocks; the layouts are spelled out next to each dequantizer.
constexpr std::array<DTypeInfo, 15> kTypes = {{
    {DType::kF32, "f32", 1, 4, true},
    {DType::kF16, "f16", 1, 2, true},
    {DType::kQ4_0, "q4_0", kQK, 2 + kQK / 2, true},
    {DType::kQ4_1, "q4_1", kQK, 4 + kQK / 2, true},
    {DType::kQ5_0, "q5_0", kQK, 2 + 4 + kQK / 2, true},
    {DType::kQ5_1, "q5_1", kQK, 4 + 4 + kQK / 2, true},
    {DType::kQ8_0, "q8_0", kQK, 2 + kQK, true},
    {DType::kQ8_1, "q8_1", kQK, 4 + kQK, true},
    {DType::kQ2_K, "q2_K", kQK_K, kQ2KBytes, true},
    {DType::kQ3_K, "q3_K", kQK_K, kQ3KBytes, true},
    {DType::kQ4_K, "q4_K", kQK_K, kQ4KBytes, true},
    {DType::kQ5_K, "q5_K", kQK_K, kQ5KBytes, true},
    {DType::kQ6_K, "q6_K", kQK_K, kQ6KBytes, true},
    {DType::kQ8_K, "q8_K", kQK_K, kQ8KBytes, true},
    {DType::kBF16, "bf16", 1, 2, true},
}};

const DTypeInfo* FindInfo(uint32_t id) {
  for (const DTypeInfo& info : kTypes) {
    if (static_cast<uint32_t>(info.type) == id) return &info;
  }
  return nullptr;
}

uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

float LoadHalf(const uint8_t* p) { return HalfToFloat(LoadU16(p)); }

// Q4_0: f16 d, 16 bytes of nibbles. Value j (< 16) is the low nibble of byte j, value j + 16
// its high nibble; x = (q - 8) * d.
void DequantizeQ4_0(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, src += 18, dst += kQK) {
    const float d = LoadHalf(src);
    const uint8_t* qs = src + 2;
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = static_cast<float>((qs[j] & 0x0f) - 8) * d;
      dst[j + kQK / 2] = static_cast<float>((qs[j] >> 4) - 8) * d;
    }
  }
}

// Q4_1: f16 d, f16 m, nibbles as Q4_0; x = q * d + m.
void DequantizeQ4_1(const uint8_t* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b, src += 20, dst += kQK) {
    const float d = LoadHalf(src);
    const float m = LoadHalf(src + 2);
    const uint8_t* qs = src + 4;
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = static_cast<float>(qs[j] & 0x0f) * d + m;
      dst[j + kQK / 2] = static_cast<float>(qs[j] >> 4) * d + m;
    }
  }
}

// Q5_0 / Q5_1: like Q4_x, plus a little-endian 32-bit word whose bit i is the fifth bit of
// value i. Q5_0 centres on 16; Q5_1 adds the block minimum instead.
void DequantizeQ5(const uint8_t* src, float* dst, int64_t n_blocks, bool has_min) {
  const size_t block_bytes = has_min ? 24 : 22;
  for (int64_t b = 0; b < n_blocks; ++b, src += block_bytes, dst += kQK) {
    const float d = LoadHalf(src);
    const float m = has_min ? LoadHalf(src + 2) : 0.0f;
    const uint8_t* qh_bytes = src + (has_min ? 4 : 2);
    const uint32_t qh = static_cast<uint32_t>(qh_bytes[0]) | static_cast<uint32_t>(qh_bytes[1]) << 8 |
                        static_cast<uint32_t>(qh_bytes[2]) << 16 |
                        static_cast<uint32_t>(qh_bytes[3]) << 24;
    const uint8_t* qs = qh_bytes + 4;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (qs[j] & 0x0f) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      if (has_min) {
        dst[j] = static_cast<float>(lo) * d + m;
        dst[j + kQK / 2] = static_cast<float>(hi) * d + m;
      } else {
        dst[j] = static_cast<float>(lo - 16) * d;
        dst[j + kQK / 2] = static_cast<float>(hi - 16) * d;
      }
    }
  }
}

// Q8_0: f16 d, 32 int8. Q8_1 adds an f16 (d * sum of q) after d, which dequantization ignores.
void DequantizeQ8(const uint8_t* src, float* dst, int64_t n_blocks, size_t header_bytes) {
  const size_t block_bytes = header_bytes + kQK;
  for (int64_t b = 0; b < n_blocks; ++b, src += block_bytes, dst += kQK) {
    const float d = LoadHalf(src);
    const int8_t* qs = reinterpret_cast<const int8_t*>(src + header_bytes);
    for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(qs[j]) * d;
  }
}

}  // namespace

std::optional<DTypeInfo> LookupDType(uint32_t ggml_type_id) {
  const DTypeInfo* info = FindInfo(ggml_type_id);
  if (info == nullptr) return std::nullopt;
  return *info;
}

const DTypeInfo& Info(DType type) {
  const DTypeInfo* info = FindInfo(static_cast<uint32_t>(type));
  G4_CHECK(info != nullptr, "unknown DType ", static_cast<uint32_t>(type));
  return *info;
}

std::string_view DTypeName(DType type) { return Info(type).name; }

size_t RowBytes(DType type, int64_t n_elems) {
  const DTypeInfo& info = Info(type);
  if (n_elems < 0 || n_elems % info.block_elems != 0) {
    Fail("a row of ", n_elems, " values is not a whole number of ", info.name, " blocks (",
         info.block_elems, " values each)");
  }
  return static_cast<size_t>(n_elems / info.block_elems) * info.block_bytes;
}

void DequantizeRow(DType type, const void* src, float* dst, int64_t n) {
  const DTypeInfo& info = Info(type);
  if (!info.can_dequantize) Fail("no dequantizer for type ", info.name);
  if (n < 0 || n % info.block_elems != 0) {
    Fail("cannot dequantize ", n, " values of ", info.name, ": not a whole number of blocks (",
         info.block_elems, " values each)");
  }
  const auto* in = static_cast<const uint8_t*>(src);
  const int64_t n_blocks = n / info.block_elems;
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, in, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = LoadHalf(in + 2 * i);
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFloat(LoadU16(in + 2 * i));
      return;
    case DType::kQ4_0:
      return DequantizeQ4_0(in, dst, n_blocks);
    case DType::kQ4_1:
      return DequantizeQ4_1(in, dst, n_blocks);
    case DType::kQ5_0:
      return DequantizeQ5(in, dst, n_blocks, /*has_min=*/false);
    case DType::kQ5_1:
      return DequantizeQ5(in, dst, n_blocks, /*has_min=*/true);
    case DType::kQ8_0:
      return DequantizeQ8(in, dst, n_blocks, 2);
    case DType::kQ8_1:
      return DequantizeQ8(in, dst, n_blocks, 4);
    case DType::kQ2_K:
      return DequantizeQ2K(in, dst, n_blocks);
    case DType::kQ3_K:
      return DequantizeQ3K(in, dst, n_blocks);
    case DType::kQ4_K:
      return DequantizeQ4K(in, dst, n_blocks);
    case DType::kQ5_K:
      return DequantizeQ5K(in, dst, n_blocks);
    case DType::kQ6_K:
      return DequantizeQ6K(in, dst, n_blocks);
    case DType::kQ8_K:
      return DequantizeQ8K(in, dst, n_blocks);
  }
  Fail("no dequantizer for type ", info.name);
}

}  // namespace g4
