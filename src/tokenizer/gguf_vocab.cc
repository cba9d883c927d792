#include "tokenizer/gguf_vocab.h"

#include <vector>

#include "base/error.h"
#include "model/gguf_writer.h"
#include "tokenizer/tokenizer.h"

namespace g4 {

void WriteGemma4VocabToGguf(const Tokenizer& tokenizer, GgufWriter& writer,
                            const std::string& chat_template) {
  const int32_t n = tokenizer.vocab_size();
  if (tokenizer.merges().empty()) {
    Fail("WriteGemma4VocabToGguf: the tokenizer has no BPE merges (not a Gemma 4 vocabulary)");
  }
  std::vector<std::string> tokens(n);
  std::vector<int32_t> types(n);
  for (int32_t id = 0; id < n; ++id) {
    tokens[id] = tokenizer.Piece(id);
    types[id] = static_cast<int32_t>(tokenizer.kind(id));
  }
  std::vector<std::string> merges;
  merges.reserve(tokenizer.merges().size());
  for (const auto& [left, right] : tokenizer.merges()) {
    const std::string& l = tokenizer.Piece(left);
    const std::string& r = tokenizer.Piece(right);
    // llama.cpp splits a merge at its first space, so neither side may hold one.
    if (l.find(' ') != std::string::npos || r.find(' ') != std::string::npos) {
      Fail("WriteGemma4VocabToGguf: merge '", l, "' + '", r, "' contains a space");
    }
    merges.push_back(l + " " + r);
  }
  writer.SetString("tokenizer.ggml.model", "gemma4");
  writer.SetStringArray("tokenizer.ggml.tokens", tokens);
  writer.SetFloat32Array("tokenizer.ggml.scores", std::vector<float>(n, -1000.0f));
  writer.SetInt32Array("tokenizer.ggml.token_type", types);
  writer.SetStringArray("tokenizer.ggml.merges", merges);
  const std::pair<const char*, const char*> ids[] = {
      {"tokenizer.ggml.bos_token_id", "<bos>"},     {"tokenizer.ggml.eos_token_id", "<eos>"},
      {"tokenizer.ggml.unknown_token_id", "<unk>"}, {"tokenizer.ggml.padding_token_id", "<pad>"},
      {"tokenizer.ggml.mask_token_id", "<mask>"},
  };
  for (const auto& [key, piece] : ids) {
    const std::optional<int32_t> id = tokenizer.Find(piece);
    if (!id) Fail("WriteGemma4VocabToGguf: the vocabulary has no ", piece, " token");
    writer.SetUint32(key, static_cast<uint32_t>(*id));
  }
  if (!chat_template.empty()) writer.SetString("tokenizer.chat_template", chat_template);
  writer.SetBool("tokenizer.ggml.add_space_prefix", false);
  writer.SetBool("tokenizer.ggml.add_bos_token", true);
}

void WriteGemma4VocabToGguf(const std::string& tokenizer_json_path, GgufWriter& writer,
                            const std::string& chat_template) {
  const std::unique_ptr<Tokenizer> tokenizer = Tokenizer::FromHfJson(tokenizer_json_path);
  WriteGemma4VocabToGguf(*tokenizer, writer, chat_template);
}

}  // namespace g4
