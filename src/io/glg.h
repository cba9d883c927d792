// GLG1 logits files (shared/golden/README.md): "GLG1", int32 n_tokens, int32 n_vocab,
// int32 tokens[n_tokens], float32 logits[n_tokens][n_vocab], little-endian.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace g4 {

struct LogitsFile {
  std::vector<int32_t> tokens;
  int32_t n_vocab = 0;
  std::vector<float> logits;  // [tokens.size()][n_vocab]
  const float* row(size_t i) const { return logits.data() + i * static_cast<size_t>(n_vocab); }
};

LogitsFile ReadGlg(const std::string& path);  // throws g4::Error naming the path and field
// Writes PATH.tmp then renames, so an existing file is only replaced by a complete one.
void WriteGlg(const std::string& path, const LogitsFile& file);

}  // namespace g4
