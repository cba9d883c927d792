// GGUF reader (versions 2 and 3): header, every metadata value type, tensor directory,
// alignment. Tensor data is used in place from a memory map.
//
// Every problem in the file throws g4::Error naming the file and the offending key/tensor
// and byte offset, e.g. "m.gguf: tensor 'blk.3.attn_q.weight' (info at byte 1234): unknown
// type id 99".
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "model/tensor.h"

namespace g4 {

enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
const char* GgufTypeName(GgufType type);

// One metadata value. Scalars keep their natural representation; arrays keep their elements.
struct GgufValue {
  GgufType type = GgufType::kUint8;
  GgufType elem_type = GgufType::kUint8;  // element type when type == kArray
  uint64_t u64 = 0;                       // unsigned integer types
  int64_t i64 = 0;                        // signed integer types
  double f64 = 0;                         // float types
  bool boolean = false;
  std::string str;
  std::vector<GgufValue> array;

  bool is_array() const { return type == GgufType::kArray; }
  bool is_integer() const;  // any integer type (bool excluded)
  bool is_number() const;   // integer or float
  // Numeric value of a scalar integer/float/bool; nullopt otherwise.
  std::optional<double> as_double() const;
  std::optional<int64_t> as_int() const;  // integers and bools only
};

class GgufFile {
 public:
  // Opens and validates the header and tensor directory; throws g4::Error on any problem.
  static std::unique_ptr<GgufFile> Open(const std::string& path);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the tensor data section

  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const std::vector<std::string>& metadata_order() const { return metadata_order_; }
  const GgufValue* Find(const std::string& key) const;

  // Typed getters: throw g4::Error naming the file and key when missing or of the wrong type.
  // Any integer type is accepted where it fits; floats accept any numeric type.
  uint64_t GetUint(const std::string& key) const;
  int64_t GetInt(const std::string& key) const;
  double GetFloat(const std::string& key) const;
  bool GetBool(const std::string& key) const;
  const std::string& GetString(const std::string& key) const;
  std::vector<int64_t> GetIntArray(const std::string& key) const;   // integer or bool elements
  std::vector<double> GetFloatArray(const std::string& key) const;  // numeric elements
  std::vector<std::string> GetStringArray(const std::string& key) const;
  // The same with a default when the key is absent (a present key of the wrong type throws).
  uint64_t GetUintOr(const std::string& key, uint64_t fallback) const;
  double GetFloatOr(const std::string& key, double fallback) const;
  bool GetBoolOr(const std::string& key, bool fallback) const;
  std::string GetStringOr(const std::string& key, const std::string& fallback) const;

  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* FindTensor(const std::string& name) const;

  // Keeps the memory map alive for as long as any holder needs the tensor data.
  std::shared_ptr<MappedFile> mapping() const { return file_; }

 private:
  GgufFile() = default;
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<std::string> metadata_order_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace g4
