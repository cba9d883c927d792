// Finds the tensors of a vision or audio tower by name and checks their shapes, for the
// multimodal loaders (mmproj GGUF files and the towers inside Hugging Face checkpoints).
// Every failure throws g4::Error naming the file, the tensor and what it was needed for.
#pragma once

#include <initializer_list>
#include <limits>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "model/tensor.h"
#include "model/weights.h"

namespace g4 {

class GgufFile;

// The bounds of a Gemma 4 clippable linear: its input is clamped to [in_min, in_max] before the
// product and its output to [out_min, out_max] after. A bound the checkpoint does not store is
// infinite (no clamp on that side).
struct ClipBounds {
  float in_min = -std::numeric_limits<float>::infinity();
  float in_max = std::numeric_limits<float>::infinity();
  float out_min = -std::numeric_limits<float>::infinity();
  float out_max = std::numeric_limits<float>::infinity();

  bool clamps_input() const;
  bool clamps_output() const;
  bool same_input(const ClipBounds& o) const { return in_min == o.in_min && in_max == o.in_max; }
};

// A bias-free linear with its own bounds. weight is {in, out} in ggml order (PyTorch [out, in]).
struct ClippedLinear {
  TensorView weight;
  ClipBounds bounds;
};

class TowerBinder {
 public:
  // `where` names the file (or checkpoint folder) in errors.
  TowerBinder(TensorLookup find, std::string where) : find_(std::move(find)), where_(std::move(where)) {}

  const std::string& where() const { return where_; }
  const TensorView* Find(const std::string& name) const { return find_(name); }
  // The tensor, which must exist with this shape (ggml order; trailing 1s ignored) and a type
  // g4 computes with.
  TensorView Require(const std::string& name, const std::vector<int64_t>& shape, const std::string& why) const;
  // The tensor's dimensions, which must number `rank` (trailing 1s aside), before sizes are known.
  std::vector<int64_t> RequireRank(const std::string& name, size_t rank, const std::string& why) const;
  std::vector<float> RequireVector(const std::string& name, int64_t n, const std::string& why) const;
  // Empty when absent.
  std::vector<float> OptionalVector(const std::string& name, int64_t n, const std::string& why) const;
  // A one-element tensor (shape [] or [1]); nullopt when absent.
  std::optional<float> OptionalScalar(const std::string& name) const;
  // `base`.weight (or `base`.linear.weight, as in Hugging Face's Gemma4ClippableLinear) with
  // shape {in, out}, and the bounds `base`.input_min / input_max / output_min / output_max.
  ClippedLinear Linear(const std::string& base, int64_t in, int64_t out, const std::string& why) const;

  [[noreturn]] void Missing(const std::string& name, const std::string& why) const;

 private:
  void Check(const TensorView& t, const std::vector<int64_t>& shape, const std::string& why) const;

  TensorLookup find_;
  std::string where_;
};

// Metadata sizes (key, value read from the tensors) must agree where the key is present.
void CheckGgufSizes(const GgufFile& gguf, std::initializer_list<std::pair<const char*, int64_t>> sizes);

}  // namespace g4
