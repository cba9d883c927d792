// A model's vocabulary as the grammar sees it: the bytes each token adds to the output, which
// tokens may never appear inside a JSON document (control/special tokens), and which tokens end
// the generation (allowed only once the document is complete). Built once per model and shared
// (read-only, thread-safe) by every grammar matcher.
//
// Besides the trie of all token byte strings, it lazily caches, per string-lexer state, which
// tokens stay inside a JSON string (a 262K-bit set: most of the vocabulary) and a trie of what
// follows the closing quote in the tokens that close it. That makes the mask inside a string, the
// common and otherwise most expensive case, cost a bit-set OR plus a walk of the few tokens that
// contain a quote.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "grammar/byte_trie.h"
#include "grammar/json_lexer.h"

namespace g4::grammar {

// What a string-lexer state does with every token of the vocabulary.
struct StringTokenCache {
  std::vector<uint64_t> inside;     // bit per token: consumed entirely without closing the string
  std::vector<uint8_t> inside_cp;   // characters each inside token completes or starts (<= 255)
  uint32_t max_inside_cp = 0;       // over the inside tokens
  TokenTrie exits;                  // bytes after the closing quote; aux = characters before it
};

// Adds to `mask` the cache's inside tokens that complete or start at most `room` characters
// (defined in grammar_mask.cc).
void OrInside(std::vector<uint64_t>& mask, const StringTokenCache& cache, uint64_t room);

class TokenVocabulary {
 public:
  // token_bytes[i]: bytes token i contributes to the text. special[i]: never allowed inside JSON.
  // end_tokens: ids that end the generation, allowed only when the document is complete (they
  // are treated as special otherwise). Empty byte strings are treated as special.
  TokenVocabulary(std::vector<std::string> token_bytes, const std::vector<bool>& special,
                  std::vector<int32_t> end_tokens);

  // From SentencePiece-style pieces as stored in GGUF tokenizer.ggml.tokens ("▁" = space,
  // "<0xNN>" = one byte) and tokenizer.ggml.token_type (may be empty: then only pieces that look
  // like <...> control tokens and the end tokens count as special). Types unknown (2), control (3)
  // and unused (5) are special; user-defined (4) pieces of the form <...> (e.g. <|"|>, <|tool>)
  // too, since inside JSON their text would only be a tokenizer artefact.
  static std::shared_ptr<TokenVocabulary> FromPieces(const std::vector<std::string>& pieces,
                                                     const std::vector<int64_t>& token_types,
                                                     std::vector<int32_t> end_tokens);
  // "▁" -> " ", "<0xNN>" -> byte NN, anything else unchanged.
  static std::string PieceToBytes(std::string_view piece);

  int32_t size() const { return static_cast<int32_t>(bytes_.size()); }
  const std::string& bytes(int32_t id) const { return bytes_[id]; }
  bool is_special(int32_t id) const { return special_[id] != 0; }
  const std::vector<int32_t>& end_tokens() const { return end_tokens_; }
  size_t mask_words() const { return (bytes_.size() + 63) / 64; }

  const TokenTrie& trie() const { return trie_; }
  // Built on first use for (mode, state); safe to call from several threads.
  const StringTokenCache& StringCache(StringMode mode, uint8_t state) const;

 private:
  void BuildStringCache(StringMode mode, uint8_t state, StringTokenCache& cache) const;

  std::vector<std::string> bytes_;
  std::vector<uint8_t> special_;
  std::vector<int32_t> end_tokens_;
  TokenTrie trie_;

  static constexpr int kSlots = kNumStringModes * kNumStringStates;
  mutable std::array<std::once_flag, kSlots> once_;
  mutable std::array<std::unique_ptr<StringTokenCache>, kSlots> caches_;
};

}  // namespace g4::grammar
