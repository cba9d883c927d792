// Scalar dequantizers for the ggml "K" quant types (super-blocks of 256 values). Internal to
// src/ops: callers go through DequantizeRow, which checks the row length.
#pragma once

#include <cstddef>
#include <cstdint>

namespace g4 {

inline constexpr int64_t kQK_K = 256;
inline constexpr size_t kQ2KBytes = 16 + 64 + 2 + 2;        // scales, qs, d, dmin
inline constexpr size_t kQ3KBytes = 32 + 64 + 12 + 2;       // hmask, qs, scales, d
inline constexpr size_t kQ4KBytes = 2 + 2 + 12 + 128;       // d, dmin, scales, qs
inline constexpr size_t kQ5KBytes = 2 + 2 + 12 + 32 + 128;  // d, dmin, scales, qh, qs
inline constexpr size_t kQ6KBytes = 128 + 64 + 16 + 2;      // ql, qh, scales, d
inline constexpr size_t kQ8KBytes = 4 + 256 + 2 * 16;       // d (f32), qs, bsums

// Each converts `n_blocks` consecutive blocks at `src` into n_blocks * 256 floats at `dst`.
void DequantizeQ2K(const uint8_t* src, float* dst, int64_t n_blocks);
void DequantizeQ3K(const uint8_t* src, float* dst, int64_t n_blocks);
void DequantizeQ4K(const uint8_t* src, float* dst, int64_t n_blocks);
void DequantizeQ5K(const uint8_t* src, float* dst, int64_t n_blocks);
void DequantizeQ6K(const uint8_t* src, float* dst, int64_t n_blocks);
void DequantizeQ8K(const uint8_t* src, float* dst, int64_t n_blocks);

}  // namespace g4
