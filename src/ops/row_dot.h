// Dot products of one stored weight row with float activations, without converting the row
// first: what a decode step (one token) needs, where each weight is used exactly once.
// The plain twin is DequantizeRow followed by Dot; tests/unit/ops_test.cc compares them through
// MatMul.
#pragma once

#include <cstdint>

#include "ops/dtype.h"

namespace g4 {

// True for the types RowDot handles directly: F32, BF16, Q8_0, Q4_0.
bool HasRowDot(DType type);

// sum_i W[i] * x[i] for the n values of one row stored as `type`.
float RowDot(DType type, const uint8_t* row, const float* x, int64_t n);

}  // namespace g4
