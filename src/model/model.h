// A loaded Gemma 4 text model: its files (kept mapped), its ModelConfig and bound weights.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "model/weights.h"

namespace g4 {

class GgufFile;
class HfCheckpoint;
class Tokenizer;

enum class ModelFormat { kGguf, kHuggingFace };

class Model {
 public:
  // `path` is a .gguf file or a Hugging Face checkpoint folder (or its config.json).
  // Throws g4::Error naming the file and field at fault.
  static std::unique_ptr<Model> Load(const std::string& path);
  ~Model();

  const std::string& path() const { return path_; }
  ModelFormat format() const { return format_; }
  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }

  // Every tensor of the source file(s), for reporting; text-decoder tensors are those not
  // belonging to a vision or audio tower.
  std::vector<const TensorView*> AllTensors() const;
  static bool IsMultimodalTensor(const std::string& name);
  int64_t TextParameterCount() const;
  size_t TextWeightBytes() const;
  // Non-null for GGUF models.
  const GgufFile* gguf() const { return gguf_.get(); }

  // The model's tokenizer (GGUF metadata, or tokenizer.json beside an HF checkpoint), loaded on
  // first use. Throws g4::Error when the model has none.
  const Tokenizer& tokenizer() const;

 private:
  Model() = default;
  std::string path_;
  ModelFormat format_ = ModelFormat::kGguf;
  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<HfCheckpoint> hf_;
  ModelConfig config_;
  ModelWeights weights_;
  mutable std::once_flag tokenizer_once_;
  mutable std::unique_ptr<Tokenizer> tokenizer_;
};

}  // namespace g4
