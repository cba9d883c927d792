// Tensor element types: the GGUF (ggml) storage types g4 reads, with their block layouts.
// Quantized types store `block_elems` values in `block_bytes` bytes; a row's length must be a
// multiple of block_elems.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace g4 {

// Values are the ggml type ids used in GGUF files.
enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kBF16 = 30,
};

struct DTypeInfo {
  DType type;
  std::string_view name;  // as llama.cpp prints it: "f32", "q4_0", "q6_K", ...
  int64_t block_elems;    // values per block (1 for plain float types)
  size_t block_bytes;     // bytes per block
  bool can_dequantize;    // g4 has a dequantizer for it
};

// Info for a ggml type id, or nullopt for an id g4 does not know.
std::optional<DTypeInfo> LookupDType(uint32_t ggml_type_id);
const DTypeInfo& Info(DType type);
std::string_view DTypeName(DType type);

// Bytes taken by `n_elems` values of `type` (n_elems must be a multiple of the block size).
size_t RowBytes(DType type, int64_t n_elems);

// Converts `n` values (a multiple of the block size) starting at `src` to float.
// Throws g4::Error for a type with no dequantizer.
void DequantizeRow(DType type, const void* src, float* dst, int64_t n);

// Quantizes `n` floats (a multiple of the block size) into `dst`, the way llama.cpp's
// reference quantizers do. Supported: F32, F16, BF16, Q8_0, Q4_0. Throws for other types.
void QuantizeRow(DType type, const float* src, void* dst, int64_t n);

}  // namespace g4
