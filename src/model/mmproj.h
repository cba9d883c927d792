// The multimodal towers that feed a Gemma 4 text model: from a llama.cpp-style mmproj GGUF
// file, or from the tensors inside a Hugging Face checkpoint (model.vision_tower.*,
// model.embed_vision.*). Vision only so far.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "model/audio_weights.h"
#include "model/vision_weights.h"

namespace g4 {

class GgufFile;
class Model;

class MultimodalTowers {
 public:
  // An mmproj GGUF file (general.architecture "clip"). Throws g4::Error naming the file and the
  // key or tensor at fault (truncated files, wrong shapes, missing tensors).
  static std::unique_ptr<MultimodalTowers> LoadMmproj(const std::string& path);
  // The towers stored inside the model's own files (Hugging Face checkpoints carry them; GGUF
  // text models do not). `model` must outlive the result, whose tensors live in its files.
  static std::unique_ptr<MultimodalTowers> FromModel(const Model& model);
  ~MultimodalTowers();

  const std::string& source() const { return source_; }
  const VisionTower* vision() const { return vision_ ? &*vision_ : nullptr; }
  const AudioTower* audio() const { return audio_ ? &*audio_ : nullptr; }

  // Throws unless the projections produce vectors of the text model's width.
  void CheckTextWidth(int64_t d_model, const std::string& text_model) const;

 private:
  MultimodalTowers() = default;
  std::string source_;
  std::unique_ptr<GgufFile> gguf_;  // keeps an mmproj file mapped
  std::optional<VisionTower> vision_;
  std::optional<AudioTower> audio_;
};

}  // namespace g4
