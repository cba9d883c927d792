// GGUF v3 writer, streaming: metadata and the tensor directory are declared first, then each
// tensor's bytes are written in declaration order, so files larger than memory can be made.
// Output goes to PATH.tmp and is renamed to PATH only by Finish(), so a failed or interrupted
// write never leaves a file that looks complete.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "ops/dtype.h"

namespace g4 {

class GgufWriter {
 public:
  explicit GgufWriter(std::string path, uint64_t alignment = 32);
  ~GgufWriter();  // removes the .tmp file if Finish() was not reached
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // Metadata, written in the order added. Adding the same key twice throws.
  void SetUint32(const std::string& key, uint32_t v);
  void SetInt32(const std::string& key, int32_t v);
  void SetUint64(const std::string& key, uint64_t v);
  void SetFloat32(const std::string& key, float v);
  void SetBool(const std::string& key, bool v);
  void SetString(const std::string& key, const std::string& v);
  void SetInt32Array(const std::string& key, const std::vector<int32_t>& v);
  void SetUint32Array(const std::string& key, const std::vector<uint32_t>& v);
  void SetFloat32Array(const std::string& key, const std::vector<float>& v);
  void SetBoolArray(const std::string& key, const std::vector<bool>& v);
  void SetStringArray(const std::string& key, const std::vector<std::string>& v);

  // Declares a tensor; `shape` is in ggml order (shape[0] contiguous). Must precede WriteHeader.
  void DeclareTensor(const std::string& name, DType type, const std::vector<int64_t>& shape);

  // Writes the header, metadata and tensor directory.
  void WriteHeader();
  // Appends the data of the next declared tensor; may be called several times per tensor with
  // consecutive pieces. Throws if more bytes arrive than the tensor holds.
  void WriteTensorData(const void* data, size_t nbytes);
  // Checks every tensor got all its bytes, flushes, and renames PATH.tmp to PATH.
  void Finish();

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    size_t nbytes;
    uint64_t offset;  // relative to the data section
  };
  void AddKey(const std::string& key);
  void WriteRaw(const void* p, size_t n);

  std::string path_;
  std::string tmp_path_;
  uint64_t alignment_;
  std::FILE* out_ = nullptr;
  bool header_written_ = false;
  bool finished_ = false;
  std::vector<uint8_t> kv_bytes_;  // encoded metadata pairs
  uint64_t kv_count_ = 0;
  std::vector<std::string> keys_;
  std::vector<PendingTensor> tensors_;
  size_t current_tensor_ = 0;
  size_t current_written_ = 0;
};

}  // namespace g4
