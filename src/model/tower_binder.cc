#include "model/tower_binder.h"

#include <cmath>

#include "base/error.h"
#include "model/gguf.h"

namespace g4 {

bool ClipBounds::clamps_input() const { return std::isfinite(in_min) || std::isfinite(in_max); }
bool ClipBounds::clamps_output() const { return std::isfinite(out_min) || std::isfinite(out_max); }

namespace {

std::vector<int64_t> WithoutTrailingOnes(std::vector<int64_t> s) {
  while (!s.empty() && s.back() == 1) s.pop_back();
  return s;
}

std::string Dims(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

void TowerBinder::Missing(const std::string& name, const std::string& why) const {
  Fail(where_, ": tensor '", name, "' is missing (", why, ")");
}

void TowerBinder::Check(const TensorView& t, const std::vector<int64_t>& shape, const std::string& why) const {
  if (WithoutTrailingOnes(t.shape) != WithoutTrailingOnes(shape)) {
    Fail(where_, ": tensor '", t.name, "' has shape ", Dims(t.shape), ", expected ", Dims(shape), " (", why,
         "; ggml order, contiguous dimension first)");
  }
  if (!Info(t.type).can_dequantize) {
    Fail(where_, ": tensor '", t.name, "' has type ", DTypeName(t.type), ", which g4 cannot compute with");
  }
}

TensorView TowerBinder::Require(const std::string& name, const std::vector<int64_t>& shape,
                                const std::string& why) const {
  const TensorView* t = find_(name);
  if (t == nullptr) Missing(name, why);
  Check(*t, shape, why);
  return *t;
}

std::vector<int64_t> TowerBinder::RequireRank(const std::string& name, size_t rank, const std::string& why) const {
  const TensorView* t = find_(name);
  if (t == nullptr) Missing(name, why);
  std::vector<int64_t> dims = WithoutTrailingOnes(t->shape);
  if (dims.size() > rank) {
    Fail(where_, ": tensor '", name, "' has shape ", Dims(t->shape), ", expected ", rank, " dimensions (", why, ")");
  }
  dims.resize(rank, 1);
  return dims;
}

std::vector<float> TowerBinder::RequireVector(const std::string& name, int64_t n, const std::string& why) const {
  return TensorToFloats(Require(name, {n}, why));
}

std::vector<float> TowerBinder::OptionalVector(const std::string& name, int64_t n, const std::string& why) const {
  if (find_(name) == nullptr) return {};
  return RequireVector(name, n, why);
}

std::optional<float> TowerBinder::OptionalScalar(const std::string& name) const {
  const TensorView* t = find_(name);
  if (t == nullptr) return std::nullopt;
  if (t->n_elements() != 1) {
    Fail(where_, ": tensor '", name, "' has shape ", Dims(t->shape), ", expected a single value (a clip bound)");
  }
  if (!Info(t->type).can_dequantize || Info(t->type).block_elems != 1) {
    Fail(where_, ": tensor '", name, "' has type ", DTypeName(t->type), ", expected a float scalar (a clip bound)");
  }
  float value = 0;
  DequantizeRow(t->type, t->data, &value, 1);
  if (std::isnan(value)) Fail(where_, ": tensor '", name, "' (a clip bound) is NaN");
  return value;
}

ClippedLinear TowerBinder::Linear(const std::string& base, int64_t in, int64_t out, const std::string& why) const {
  ClippedLinear l;
  const std::string plain = base + ".weight";
  const std::string wrapped = base + ".linear.weight";
  l.weight = Require(find_(plain) == nullptr && find_(wrapped) != nullptr ? wrapped : plain, {in, out}, why);
  if (std::optional<float> v = OptionalScalar(base + ".input_min")) l.bounds.in_min = *v;
  if (std::optional<float> v = OptionalScalar(base + ".input_max")) l.bounds.in_max = *v;
  if (std::optional<float> v = OptionalScalar(base + ".output_min")) l.bounds.out_min = *v;
  if (std::optional<float> v = OptionalScalar(base + ".output_max")) l.bounds.out_max = *v;
  if (l.bounds.in_min > l.bounds.in_max || l.bounds.out_min > l.bounds.out_max) {
    Fail(where_, ": clip bounds of '", base, "' are inverted (input [", l.bounds.in_min, ", ", l.bounds.in_max,
         "], output [", l.bounds.out_min, ", ", l.bounds.out_max, "])");
  }
  return l;
}

void CheckGgufSizes(const GgufFile& gguf, std::initializer_list<std::pair<const char*, int64_t>> sizes) {
  for (const auto& [key, from_tensors] : sizes) {
    if (gguf.Find(key) != nullptr && static_cast<int64_t>(gguf.GetUint(key)) != from_tensors) {
      Fail(gguf.path(), ": metadata ", key, " = ", gguf.GetUint(key), " disagrees with the tensors (", from_tensors,
           ")");
    }
  }
}

}  // namespace g4
