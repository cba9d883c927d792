#include "model/mmproj.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "model/gguf.h"
#include "model/model.h"

namespace g4 {

MultimodalTowers::~MultimodalTowers() = default;

std::unique_ptr<MultimodalTowers> MultimodalTowers::LoadMmproj(const std::string& path) {
  std::unique_ptr<MultimodalTowers> t(new MultimodalTowers());
  t->source_ = path;
  t->gguf_ = GgufFile::Open(path);
  if (t->gguf_->GetStringOr("general.architecture", "") != "clip") {
    Fail(path, ": not an mmproj file (general.architecture is '", t->gguf_->GetStringOr("general.architecture", ""),
         "', expected 'clip')");
  }
  if (t->gguf_->GetBoolOr("clip.has_vision_encoder", false)) t->vision_ = BindGgufVision(*t->gguf_);
  if (t->gguf_->GetBoolOr("clip.has_audio_encoder", false)) t->audio_ = BindGgufAudio(*t->gguf_);
  if (!t->vision_ && !t->audio_) {
    Fail(path, ": the mmproj file has neither a vision nor an audio tower (clip.has_vision_encoder and ",
         "clip.has_audio_encoder are not set)");
  }
  return t;
}

std::unique_ptr<MultimodalTowers> MultimodalTowers::FromModel(const Model& model) {
  std::unique_ptr<MultimodalTowers> t(new MultimodalTowers());
  t->source_ = model.path();
  if (model.format() != ModelFormat::kHuggingFace) return t;
  std::map<std::string, const TensorView*> by_name;
  for (const TensorView* tensor : model.AllTensors()) by_name[tensor->name] = tensor;
  const TensorLookup find = [&by_name](const std::string& name) -> const TensorView* {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : it->second;
  };
  auto has_prefix = [&by_name](const std::string& prefix) {
    auto it = by_name.lower_bound(prefix);
    return it != by_name.end() && it->first.rfind(prefix, 0) == 0;
  };
  nlohmann::json config;
  std::ifstream in(model.path() + "/config.json");
  if (in) config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  auto section = [&config](const char* key) {
    return config.is_object() && config.contains(key) ? config[key] : nlohmann::json();
  };
  if (has_prefix("model.vision_tower.")) t->vision_ = BindHfVision(find, section("vision_config"), model.path());
  if (has_prefix("model.audio_tower.")) t->audio_ = BindHfAudio(find, section("audio_config"), model.path());
  return t;
}

void MultimodalTowers::CheckTextWidth(int64_t d_model, const std::string& text_model) const {
  const std::pair<const char*, int64_t> widths[] = {{"vision", vision_ ? vision_->config.text_width : d_model},
                                                    {"audio", audio_ ? audio_->config.text_width : d_model}};
  for (const auto& [tower, width] : widths) {
    if (width != d_model) {
      Fail(source_, ": the ", tower, " projection produces vectors of width ", width, " but the text model ",
           text_model, " has width ", d_model, " (an mmproj file belongs to one model size)");
    }
  }
}

}  // namespace g4
