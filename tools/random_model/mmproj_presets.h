// Multimodal tower shapes for g4-random-model --mmproj: the vision and audio towers of the
// published Gemma 4 variants (spec/gemma4-io.md §4.1, §5.2-5.4), laid out as llama.cpp's
// converter writes an mmproj GGUF (§4.5, §5.7), so encoder speed can be measured without
// downloading a checkpoint.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/gguf_writer.h"
#include "ops/dtype.h"
#include "presets.h"

namespace g4 {

struct VisionTowerShape {
  int64_t n_layer = 0, n_embd = 0, n_head = 0, n_ff = 0;
  int64_t patch_size = 16, pos_size = 10240, pooling = 3;
  bool clipped_linears = false;  // small tower: each linear carries input/output bounds
  bool standardize = false;      // large tower: std_bias / std_scale after pooling
};

struct AudioTowerShape {
  int64_t n_layer = 0, n_embd = 0, n_head = 0, n_ff = 0;
  int64_t n_mel = 128;
  int64_t sscp_channels[2] = {128, 32};
  int64_t conv_kernel = 5;
  int64_t out_proj = 1536;  // output_proj width, before embed_audio
};

struct MmprojPreset {
  std::string name;       // the text preset it belongs to ("e2b", ...)
  int64_t text_hidden = 0;
  bool use_gelu_key = false;  // write clip.use_gelu (the golden generator does; converted files do not)
  VisionTowerShape vision;
  bool has_audio = false;
  AudioTowerShape audio;
};

// The towers of a built-in text preset (e2b, e4b, 26b-a4b, 31b); nullptr for the others.
const MmprojPreset* FindMmprojPreset(const std::string& name);

// The towers of a golden `*.mmproj.*.gguf.config.json` (its generator_config), so the tool
// reproduces the golden files' layout. Throws g4::Error naming a missing or wrong field.
MmprojPreset MmprojPresetFromGoldenConfig(const nlohmann::json& config);

// Tensors in the converter's order: vision tower, its projection, then the audio tower.
std::vector<TensorPlan> PlanMmprojTensors(const MmprojPreset& p);

// general.* and clip.* keys of a llama.cpp mmproj file (projector types gemma4v / gemma4a).
void WriteMmprojMetadata(GgufWriter& w, const MmprojPreset& p, DType wtype, const std::string& description);

}  // namespace g4
