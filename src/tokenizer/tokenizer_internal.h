// Building blocks shared by the tokenizer's loaders and encoders (not part of the public API).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace g4::tokenizer_internal {

// ---- UTF-8 -------------------------------------------------------------------------------------

// Byte offset of the first byte that is not part of well-formed UTF-8 (overlong forms,
// surrogates and code points above U+10FFFF included), or npos when all of `s` is well formed.
size_t FindInvalidUtf8(std::string_view s);
// Decodes the well-formed character at s[pos]; sets *len to its byte count.
uint32_t DecodeUtf8(std::string_view s, size_t pos, size_t* len);
// Appends `s`, each maximal ill-formed subsequence replaced by one U+FFFD.
void AppendSanitizedUtf8(std::string_view s, std::string* out);
// Length of the longest prefix of `s` that can be emitted now: complete characters, and bytes
// that can never start or continue a character (emitted as U+FFFD). The rest is an incomplete
// character that later bytes may finish.
size_t EmittableUtf8Prefix(std::string_view s);

// "<0xNN>" (uppercase hex, as SentencePiece and llama.cpp write them) -> NN, else -1.
int ParseByteToken(std::string_view piece);

// ---- piece -> id ----------------------------------------------------------------------------

uint64_t HashBytes(std::string_view s);

// Open-addressing hash from piece to id. It keeps a reference to `pieces`, which must outlive it
// unchanged. Far cheaper to build and probe for 262K pieces than a map of strings.
class PieceIndex {
 public:
  // On duplicate pieces the lowest id wins; duplicates() lists the (first, later) id pairs so
  // that loaders can reject them.
  explicit PieceIndex(const std::vector<std::string>& pieces);
  int32_t Find(std::string_view piece) const { return FindHashed(piece, HashBytes(piece)); }
  // Find() of n keys (key(i) gives the i-th) into out[0..n), overlapping their memory accesses:
  // loading a vocabulary makes ~1.5M lookups whose random probes would otherwise stall on cache
  // misses one after another.
  template <typename KeyFn>
  void FindBatch(size_t n, KeyFn key, int32_t* out) const {
    constexpr size_t kBlock = 32;
    uint64_t hashes[kBlock];
    for (size_t base = 0; base < n; base += kBlock) {
      const size_t m = n - base < kBlock ? n - base : kBlock;
      for (size_t i = 0; i < m; ++i) {
        hashes[i] = HashBytes(key(base + i));
        __builtin_prefetch(&slots_[hashes[i] & mask_]);
      }
      for (size_t i = 0; i < m; ++i) {
        const Slot& slot = slots_[hashes[i] & mask_];
        if (slot.id >= 0) __builtin_prefetch(&pieces_[slot.id]);
      }
      for (size_t i = 0; i < m; ++i) out[base + i] = FindHashed(key(base + i), hashes[i]);
    }
  }
  const std::vector<std::pair<int32_t, int32_t>>& duplicates() const { return duplicates_; }

 private:
  int32_t FindHashed(std::string_view piece, uint64_t hash) const;

  struct Slot {
    int32_t id = -1;
    uint32_t tag = 0;  // upper hash bits, to skip most string compares
  };
  const std::vector<std::string>& pieces_;
  std::vector<Slot> slots_;
  uint64_t mask_ = 0;
  std::vector<std::pair<int32_t, int32_t>> duplicates_;
};

// ---- (left id, right id) -> (rank, merged id) -------------------------------------------------

class MergeTable {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    int32_t rank = 0;
    int32_t merged = 0;
  };
  explicit MergeTable(size_t n_merges);
  // Keeps the first (lowest-rank) entry of a pair given twice, as llama.cpp does.
  void Insert(int32_t left, int32_t right, int32_t rank, int32_t merged);
  void Prefetch(int32_t left, int32_t right) const {
    __builtin_prefetch(&slots_[Mix(Key(left, right)) & mask_]);
  }
  const Entry* Find(int32_t left, int32_t right) const {
    const uint64_t key = Key(left, right);
    const uint64_t h = Mix(key);
    // Most pairs met while encoding are not merges: a 1 MB bit filter (cache resident, unlike
    // the 16 MB table) answers most of those without touching the table.
    const uint64_t bit = (h >> 32) & filter_mask_;
    if (!((filter_[bit >> 6] >> (bit & 63)) & 1)) return nullptr;
    for (uint64_t i = h & mask_;; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t Key(int32_t l, int32_t r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }
  static uint64_t Mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
  }
  std::vector<Entry> slots_;
  uint64_t mask_ = 0;
  std::vector<uint64_t> filter_;
  uint64_t filter_mask_ = 0;
};

// ---- added / special tokens in raw text ---------------------------------------------------------

// A byte trie of the token strings matched in raw text. Match() gives the longest allowed token
// starting at a position; scanning left to right, that is Hugging Face's leftmost-longest
// matching. llama.cpp instead matches token by token, longest token first; for the Gemma 4 set
// both agree, since each of those strings holds '<' only first and '>' only last, so no two
// can overlap or nest.
class TokenMatcher {
 public:
  // When a token is matched: kText always (added tokens of ordinary text: newline runs, ...),
  // kMarkup also without parse_special but never inside user text (GGUF USER_DEFINED markers
  // such as <|tool_call>), kSpecial only with parse_special.
  enum Level : uint8_t { kText = 0, kMarkup = 1, kSpecial = 2 };
  // Empty strings are ignored.
  void Add(std::string_view text, int32_t id, Level level);
  bool empty() const { return nodes_.size() <= 1; }
  // False when no token starts with this byte (the common case, checked inline).
  bool MayStart(uint8_t byte) const { return first_byte_[byte]; }
  // Length of the longest token of level <= max_level at text[pos...] (0: none); its id in *id.
  size_t Match(std::string_view text, size_t pos, Level max_level, int32_t* id) const;

 private:
  struct Node {
    int32_t id = -1;
    Level level = kSpecial;
  };
  int32_t Child(int32_t node, uint8_t byte) const {
    auto it = edges_.find((static_cast<uint64_t>(node) << 8) | byte);
    return it == edges_.end() ? -1 : it->second;
  }
  std::vector<Node> nodes_{Node{}};
  std::unordered_map<uint64_t, int32_t> edges_;
  bool first_byte_[256] = {};
};

// ---- Gemma 4 token typing ---------------------------------------------------------------------

// The GGUF token type llama.cpp's converter gives a Gemma 4 tokenizer.json entry (golden
// README): special added tokens and <mask> CONTROL, except the seven tokens chat parsers must
// see (tool calls and responses, the string delimiter, channels) USER_DEFINED; byte pieces BYTE;
// all others NORMAL.
TokenKind Gemma4TokenKind(std::string_view piece, bool is_added, bool is_special,
                          bool in_model_vocab);

// ---- encoders ---------------------------------------------------------------------------------

// BPE merges as read from a file, before their pieces are resolved to ids: each merge's left and
// right pieces lie back to back in `chars`, so that the merged piece is a view as well (a million
// small strings would cost more than the lookups themselves).
struct MergeList {
  struct Ref {
    size_t offset;
    uint32_t left_len;
    uint32_t right_len;
  };
  std::string chars;
  std::vector<Ref> refs;

  void Add(std::string_view left, std::string_view right) {
    refs.push_back(
        {chars.size(), static_cast<uint32_t>(left.size()), static_cast<uint32_t>(right.size())});
    chars.append(left).append(right);
  }
  std::string_view left(size_t i) const {
    return std::string_view(chars).substr(refs[i].offset, refs[i].left_len);
  }
  std::string_view right(size_t i) const {
    return std::string_view(chars).substr(refs[i].offset + refs[i].left_len, refs[i].right_len);
  }
  std::string_view merged(size_t i) const {
    return std::string_view(chars).substr(refs[i].offset, refs[i].left_len + refs[i].right_len);
  }
};

// Rank-ordered BPE over code points with byte fallback (tokenizer.json "BPE" and GGUF "gemma4").
class BpeTokenizer : public Tokenizer {
 public:
  enum class Flavor { kHfJson, kGgufGemma4 };
  std::vector<int32_t> EncodeImpl(std::string_view text, bool parse_special,
                                  std::span<const TextSpan> plain) const override;

 private:
  friend std::unique_ptr<Tokenizer> LoadHfJson(const std::string& path);
  friend std::unique_ptr<Tokenizer> LoadGgufBpe(const GgufFile& gguf);
  struct Scratch;
  BpeTokenizer() = default;
  // Resolves `list` (read from `field` of `source`) into merges_ and the merge table, and builds
  // the code point and byte tables. `bpe_vocab` marks the ids the BPE model may use and produce
  // (tokenizer.json: model.vocab; GGUF: all). Call after FinishVocab.
  void FinishBpe(const std::string& source, const char* field, const MergeList& list,
                 const std::vector<bool>& bpe_vocab);
  // BPE of one run of text; ' ' counts as '▁'.
  void EncodeWord(std::string_view word, Scratch& scratch, std::vector<int32_t>* out) const;
  void EncodeText(std::string_view text, Scratch& scratch, std::vector<int32_t>* out) const;

  Flavor flavor_ = Flavor::kHfJson;
  bool byte_fallback_ = true;
  bool fuse_unk_ = true;
  bool ignore_merges_ = false;
  std::unique_ptr<MergeTable> merge_table_;
  // rank -> (left, right, merged): checks and applies a queued merge with one array read.
  struct RankInfo {
    int32_t left, right, merged;
  };
  std::vector<RankInfo> rank_info_;
  std::vector<int32_t> cp_to_id_;  // single-code-point pieces, -1 where none
  int32_t byte_ids_[256];
};

// llama.cpp's SentencePiece-style merge by score (GGUF "llama").
class SpmTokenizer : public Tokenizer {
 public:
  std::vector<int32_t> EncodeImpl(std::string_view text, bool parse_special,
                                  std::span<const TextSpan> plain) const override;

 private:
  friend std::unique_ptr<Tokenizer> LoadGgufSpm(const GgufFile& gguf);
  SpmTokenizer() = default;
  void EncodeText(std::string_view text, std::vector<int32_t>* out) const;

  std::vector<float> scores_;
  int32_t byte_ids_[256];
};

std::unique_ptr<Tokenizer> LoadHfJson(const std::string& path);
std::unique_ptr<Tokenizer> LoadGgufBpe(const GgufFile& gguf);
std::unique_ptr<Tokenizer> LoadGgufSpm(const GgufFile& gguf);

}  // namespace g4::tokenizer_internal

namespace g4 {

template <typename OnText, typename OnToken>
void Tokenizer::SplitOnSpecial(std::string_view text, bool parse_special, std::span<const TextSpan> plain,
                               OnText on_text, OnToken on_token) const {
  using tokenizer_internal::TokenMatcher;
  const TokenMatcher::Level level = parse_special ? TokenMatcher::kSpecial : TokenMatcher::kMarkup;
  size_t start = 0;
  size_t pos = 0;
  size_t span = 0;  // the first plain span not ending before pos
  while (pos < text.size()) {
    int32_t id = -1;
    if (!matcher_->MayStart(static_cast<uint8_t>(text[pos]))) {
      ++pos;
      continue;
    }
    while (span < plain.size() && plain[span].end <= pos) ++span;
    size_t len;
    if (span < plain.size() && plain[span].begin <= pos) {
      len = matcher_->Match(text, pos, TokenMatcher::kText, &id);  // user text
    } else {
      // Markup: a token may not reach into the user text that follows.
      const size_t limit = span < plain.size() ? plain[span].begin : text.size();
      len = matcher_->Match(text.substr(0, limit), pos, level, &id);
      int32_t text_id = -1;
      const size_t text_len = matcher_->Match(text, pos, TokenMatcher::kText, &text_id);
      if (text_len > len) {
        len = text_len;
        id = text_id;
      }
    }
    if (len == 0) {
      ++pos;
      continue;
    }
    if (pos > start) on_text(text.substr(start, pos - start));
    on_token(id);
    pos += len;
    start = pos;
  }
  if (start < text.size()) on_text(text.substr(start));
}

}  // namespace g4
