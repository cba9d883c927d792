// Writes a Gemma 4 vocabulary into GGUF metadata the way llama.cpp's converter does
// (Gemma4Model.set_vocab at commit 3f545bec, described in golden/README.md), so that g4's
// random-weight models carry the real tokenizer and load in llama.cpp as well.
#pragma once

#include <string>

namespace g4 {

class GgufWriter;
class Tokenizer;

// Adds, in this order: tokenizer.ggml.model = "gemma4" (no .pre key), .tokens, .scores (-1000
// each), .token_type (Tokenizer::kind(): 17 CONTROL, 7 USER_DEFINED, 256 BYTE, the rest NORMAL
// for Gemma 4), .merges ("left right" in rank order), .bos/.eos/.unknown/.padding/.mask token
// ids, .chat_template (only when non-empty), .add_space_prefix = false, .add_bos_token = true.
// `tokenizer` must be a BPE vocabulary with merges, e.g. Tokenizer::FromHfJson of the Gemma 4
// tokenizer.json; anything else throws g4::Error.
void WriteGemma4VocabToGguf(const Tokenizer& tokenizer, GgufWriter& writer,
                            const std::string& chat_template = "");
// The same from a tokenizer.json path.
void WriteGemma4VocabToGguf(const std::string& tokenizer_json_path, GgufWriter& writer,
                            const std::string& chat_template = "");

}  // namespace g4
