// The Gemma 4 tokenizer (spec/gemma4-io.md §2): BPE over the 262,144-piece vocabulary with byte
// fallback, loaded from GGUF metadata (tokenizer.ggml.*, model "gemma4" with merges, or the
// SentencePiece-style "llama" model the tiny golden files use) or from a Hugging Face
// tokenizer.json.
//
// Three encoders, each following the implementation its source format comes from:
//  * tokenizer.json: Hugging Face semantics. Every added token is matched in the raw text
//    (longest match first; special ones only with parse_special), the rest is BPE'd with ' ' -> '▁'
//    and rank-ordered merges over code points, unknown characters become <0xNN> byte tokens.
//  * GGUF "gemma4": llama.cpp semantics. CONTROL and UNKNOWN tokens are matched with
//    parse_special, USER_DEFINED ones always; text is split into newline / non-newline runs, a
//    newline run that is a token is emitted whole, everything else BPE'd as above.
//  * GGUF "llama": llama.cpp's SentencePiece merge by token score, with byte fallback.
// A Tokenizer is immutable after loading; Encode/Decode may be called from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace g4 {

class GgufFile;

// GGUF token types (tokenizer.ggml.token_type values).
enum class TokenKind : uint8_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

namespace tokenizer_internal {
class PieceIndex;
class TokenMatcher;
}  // namespace tokenizer_internal

// A byte range [begin, end) of a text.
struct TextSpan {
  size_t begin = 0, end = 0;
};

class Tokenizer {
 public:
  // Throw g4::Error naming the file and key/field (or byte offset) at fault.
  static std::unique_ptr<Tokenizer> FromGguf(const GgufFile& gguf);
  static std::unique_ptr<Tokenizer> FromHfJson(const std::string& tokenizer_json_path);
  // A .gguf file (by its magic), a tokenizer.json file, or a Hugging Face folder holding one.
  static std::unique_ptr<Tokenizer> Load(const std::string& path);
  virtual ~Tokenizer();

  int vocab_size() const { return static_cast<int>(pieces_.size()); }

  // Text -> ids (no BOS added). With parse_special, special tokens written in the text (control
  // and user-defined ones, and for tokenizer.json every added token) become their ids; without
  // it only the always-matched ones do (GGUF USER_DEFINED, tokenizer.json non-special added).
  // Invalid UTF-8 in `text` throws g4::Error naming the byte offset.
  std::vector<int32_t> Encode(std::string_view text, bool parse_special = true) const {
    return EncodeImpl(text, parse_special, {});
  }
  // Input marking (llama.cpp's name) for rendered chat prompts: special tokens are parsed only
  // outside the `plain` spans (sorted, disjoint), which hold user-supplied text. Inside them no
  // control or user-defined token is ever matched (a user writing "<|turn>" gets the characters,
  // not the token); the added tokens of ordinary text (newline runs, ...) still are. Text is
  // BPE'd across span borders as if unmarked, so a prompt without such spellings encodes exactly
  // as Encode(text, true) does.
  std::vector<int32_t> EncodeMarked(std::string_view text, std::span<const TextSpan> plain) const {
    return EncodeImpl(text, true, plain);
  }

  // Per-token accessors; `id` must be in [0, vocab_size()) (Decode and StreamDecoder check ids).
  // The vocabulary string of a token ("▁the", "<0x0A>", "<|turn>").
  const std::string& Piece(int32_t id) const { return pieces_[id]; }
  // The GGUF token type. For tokenizer.json: the type llama.cpp's converter gives it
  // (WriteGemma4VocabToGguf writes exactly these): special added tokens CONTROL, except the ones
  // chat parsers must see (<|tool_call>, <|"|>, <|channel>, ...) USER_DEFINED; <0xNN> BYTE;
  // everything else, non-special added tokens included, NORMAL.
  TokenKind kind(int32_t id) const { return kinds_[id]; }
  // The bytes a token contributes to the output text: "▁" -> " ", "<0xNN>" -> that byte, special
  // tokens -> their literal text. Byte tokens may be partial UTF-8.
  const std::string& TokenBytes(int32_t id) const { return bytes_[id]; }
  std::optional<int32_t> Find(std::string_view piece) const;
  // BPE merges in rank order as (left id, right id); empty for score-based ("llama") vocabularies.
  const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merges_; }

  // ids -> text. keep_special: control tokens appear as their literal text, else are dropped
  // (user-defined tokens such as <|tool_call> and <|"|> are always kept, as llama.cpp does).
  // Invalid UTF-8 from byte tokens becomes U+FFFD. clean_spaces applies the tokenizer's space
  // clean-up (" ." -> ".", " 's" -> "'s", ...; Gemma 4 has one, as llama.cpp and tokenizers.js
  // apply it); pass false for the exact concatenation of the pieces. An id out of range throws.
  std::string Decode(const std::vector<int32_t>& ids, bool keep_special = true,
                     bool clean_spaces = true) const;

  // Special ids, -1 where the source names none: GGUF tokenizer.ggml.*_token_id; tokenizer.json
  // <bos>, <eos>, <pad> by name and model.unk_token.
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  bool has_space_cleanup() const { return clean_spaces_; }

 protected:
  Tokenizer();
  // Builds bytes_, the piece index and checks the special ids; call once pieces_/kinds_ are set.
  void FinishVocab(const std::string& source);
  virtual std::vector<int32_t> EncodeImpl(std::string_view text, bool parse_special,
                                          std::span<const TextSpan> plain) const = 0;
  // Calls on_text(segment) / on_token(id) for the pieces of `text` between matched tokens (see
  // EncodeMarked for `plain`).
  template <typename OnText, typename OnToken>
  void SplitOnSpecial(std::string_view text, bool parse_special, std::span<const TextSpan> plain,
                      OnText on_text, OnToken on_token) const;

  std::vector<std::string> pieces_;
  std::vector<TokenKind> kinds_;
  std::vector<std::string> bytes_;
  std::vector<std::pair<int32_t, int32_t>> merges_;
  std::unique_ptr<tokenizer_internal::PieceIndex> index_;
  std::unique_ptr<tokenizer_internal::TokenMatcher> matcher_;
  int32_t bos_id_ = 2, eos_id_ = 1, pad_id_ = 0, unk_id_ = 3;
  bool clean_spaces_ = false;
  bool add_space_prefix_ = false;  // SentencePiece-style: a leading '▁' on each text run
};

// Turns a stream of token ids into text pieces that never split a UTF-8 character: bytes of an
// incomplete character are held back until it completes (or Flush() emits U+FFFD for them).
// No space clean-up is applied: the concatenated output is the exact text of the tokens.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool keep_special = true);
  std::string Push(int32_t id);
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  bool keep_special_;
  std::string pending_;
};

}  // namespace g4
