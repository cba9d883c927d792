// A view of one stored weight tensor, wherever it came from (GGUF or safetensors).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops/dtype.h"

namespace g4 {

struct TensorView {
  std::string name;            // name in the file it came from
  DType type = DType::kF32;
  // Dimensions in ggml order: shape[0] is the contiguous (fastest-varying) one. A PyTorch
  // weight [out, in] is {in, out} here.
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // points into a memory map, or owned storage
  size_t nbytes = 0;
  std::string file;               // file holding it, for error messages
  uint64_t file_offset = 0;       // absolute byte offset of data in `file`

  int64_t dim(size_t i) const { return i < shape.size() ? shape[i] : 1; }
  int64_t n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  // Number of rows of shape[0] values.
  int64_t n_rows() const { return shape.empty() ? 0 : n_elements() / shape[0]; }
  size_t row_bytes() const { return RowBytes(type, shape.empty() ? 0 : shape[0]); }
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes(); }
  std::string shape_string() const;  // "[64, 512]" in ggml order
};

}  // namespace g4
