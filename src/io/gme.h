// GME1 embedding files (shared/golden/multimodal/README.md): "GME1", int32 n_tokens, n_embd,
// modality (0 image, 1 audio), in_nx, in_ny, src_a, src_b (a 32-byte header), then float32
// embd[n_tokens][n_embd], little-endian.
//  * image: in_nx × in_ny is the encoded size in pixels, src_a × src_b the original size;
//  * audio: in_nx mel frames, in_ny = 128, src_a samples at src_b = 16000 Hz.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace g4 {

enum class GmeModality : int32_t { kImage = 0, kAudio = 1 };

struct EmbeddingsFile {
  int32_t n_tokens = 0;
  int32_t n_embd = 0;
  GmeModality modality = GmeModality::kImage;
  int32_t in_nx = 0, in_ny = 0, src_a = 0, src_b = 0;
  std::vector<float> embd;  // [n_tokens][n_embd]
  const float* row(size_t i) const { return embd.data() + i * static_cast<size_t>(n_embd); }
};

EmbeddingsFile ReadGme(const std::string& path);  // throws g4::Error naming the path and field
// Writes PATH.tmp then renames, so an existing file is only replaced by a complete one.
void WriteGme(const std::string& path, const EmbeddingsFile& file);

}  // namespace g4
