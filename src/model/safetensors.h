// Hugging Face checkpoints: safetensors files (8-byte header length, JSON header, raw data)
// and checkpoint folders (config.json plus model.safetensors, or shards listed by
// model.safetensors.index.json). Tensors are used in place from memory maps.
//
// Shapes are converted to ggml order (reversed), so a PyTorch weight [out, in] appears as
// {in, out}, the same as in GGUF; a 0-dim tensor has shape {} (one element).
//
// Supported dtypes: F32, F16, BF16. Tensors of any other safetensors dtype (F64, I64, U8,
// BOOL, F8_E4M3, ...) are validated and accepted by Open, but kept out of tensors(), so that
// no code can mistake their bytes for floats: they appear only in raw_dtypes(), and Find()
// on such a name throws g4::Error naming the file, the tensor and its dtype. An unknown
// dtype name is an error in Open.
//
// Data pointers are only as aligned as the file's offsets: safetensors does not pad between
// tensors, so an F32 tensor may start at any address.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/mapped_file.h"
#include "model/tensor.h"

namespace g4 {

class SafetensorsFile {
 public:
  // Parses and validates the header (offsets inside the file, non-overlapping, sizes match
  // shapes); throws g4::Error naming the file, tensor and field at fault.
  static std::unique_ptr<SafetensorsFile> Open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // nullptr when absent; throws for a tensor whose dtype is not F32/F16/BF16.
  const TensorView* Find(const std::string& name) const;
  // Every tensor in the file, usable or not: name -> dtype as written.
  const std::map<std::string, std::string>& raw_dtypes() const { return raw_dtypes_; }
  // The "__metadata__" string map of the header (may be empty).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The dtype string as written in the file ("BF16", "F8_E4M3", ...) for a tensor; throws
  // if the file has no such tensor.
  const std::string& RawDType(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> raw_dtypes_;
  std::map<std::string, std::string> metadata_;
};

// A Hugging Face checkpoint folder.
class HfCheckpoint {
 public:
  // Reads DIR/config.json and either DIR/model.safetensors or DIR/model.safetensors.index.json
  // with its shards. Every tensor the index names must be in the shard it names (and nowhere
  // else); a shard's tensors missing from the index are an error too.
  static std::unique_ptr<HfCheckpoint> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const nlohmann::json& config() const;  // the parsed config.json
  std::string config_path() const { return dir_ + "/config.json"; }

  // All F32/F16/BF16 tensors of all shards (see SafetensorsFile for other dtypes).
  const std::vector<const TensorView*>& tensors() const { return all_; }
  // nullptr when absent; throws for a tensor whose dtype is not F32/F16/BF16.
  const TensorView* Find(const std::string& name) const;

  ~HfCheckpoint();

 private:
  HfCheckpoint() = default;
  std::string dir_;
  std::unique_ptr<nlohmann::json> config_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::vector<const TensorView*> all_;
  std::map<std::string, const TensorView*> by_name_;
};

}  // namespace g4
