// UTF-8 helpers, the piece index, the merge table and the special-token trie.
#include <algorithm>
#include <bit>
#include <cstring>

#include "tokenizer/tokenizer_internal.h"

namespace g4::tokenizer_internal {
namespace {

// What the bytes at s[i] are: a complete well-formed character (len > 0), or not (len == 0),
// with the length of its maximal well-formed prefix (at least 1) and whether that prefix runs
// into the end of `s` (so more bytes could still complete it).
struct SeqInfo {
  int len;
  int prefix;
  bool truncated;
};

SeqInfo Inspect(std::string_view s, size_t i) {
  const uint8_t b = static_cast<uint8_t>(s[i]);
  if (b < 0x80) return {1, 1, false};
  int n;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
  } else if (b == 0xE0) {
    n = 3, lo = 0xA0;  // no overlong forms
  } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
    n = 3;
  } else if (b == 0xED) {
    n = 3, hi = 0x9F;  // no surrogates
  } else if (b == 0xF0) {
    n = 4, lo = 0x90;
  } else if (b >= 0xF1 && b <= 0xF3) {
    n = 4;
  } else if (b == 0xF4) {
    n = 4, hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {0, 1, false};
  }
  for (int k = 1; k < n; ++k) {
    if (i + k >= s.size()) return {0, k, true};
    const uint8_t c = static_cast<uint8_t>(s[i + k]);
    if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return {0, k, false};
  }
  return {n, n, false};
}

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

size_t FindInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // ASCII runs dominate most text: check eight bytes at a time.
    while (i + 8 <= s.size()) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= s.size()) break;
    const SeqInfo info = Inspect(s, i);
    if (info.len == 0) return i;
    i += info.len;
  }
  return std::string_view::npos;
}

uint32_t DecodeUtf8(std::string_view s, size_t pos, size_t* len) {
  const uint8_t b = static_cast<uint8_t>(s[pos]);
  if (b < 0x80) {
    *len = 1;
    return b;
  }
  auto cont = [&](size_t k) {
    return static_cast<uint32_t>(static_cast<uint8_t>(s[pos + k]) & 0x3F);
  };
  if (b < 0xE0) {
    *len = 2;
    return ((b & 0x1Fu) << 6) | cont(1);
  }
  if (b < 0xF0) {
    *len = 3;
    return ((b & 0x0Fu) << 12) | (cont(1) << 6) | cont(2);
  }
  *len = 4;
  return ((b & 0x07u) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
}

void AppendSanitizedUtf8(std::string_view s, std::string* out) {
  if (FindInvalidUtf8(s) == std::string_view::npos) {
    out->append(s);
    return;
  }
  size_t i = 0;
  while (i < s.size()) {
    const SeqInfo info = Inspect(s, i);
    if (info.len > 0) {
      out->append(s.substr(i, info.len));
      i += info.len;
    } else {
      // One U+FFFD per maximal ill-formed subpart, as Python's errors="replace" and browsers do.
      out->append(kReplacement);
      i += info.prefix;
    }
  }
}

size_t EmittableUtf8Prefix(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const SeqInfo info = Inspect(s, i);
    if (info.len > 0) {
      i += info.len;
    } else if (info.truncated) {
      return i;
    } else {
      i += info.prefix;
    }
  }
  return i;
}

int ParseByteToken(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  const int hi = hex(piece[3]), lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

uint64_t HashBytes(std::string_view s) {
  // Eight bytes at a time, then murmur3's 64-bit finalizer so that every input bit reaches the
  // low bits the table indexes with (pieces often differ only in their last bytes).
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (s.size() * 0xC2B2AE3D27D4EB4FULL);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = std::rotl((h ^ w) * 0x87C37B91114253D5ULL, 31) * 0x4CF5AD432745937FULL;
  }
  uint64_t w = 0;
  std::memcpy(&w, s.data() + i, s.size() - i);
  h ^= w;
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ULL;
  return h ^ (h >> 33);
}

PieceIndex::PieceIndex(const std::vector<std::string>& pieces) : pieces_(pieces) {
  const uint64_t capacity = std::bit_ceil(std::max<uint64_t>(16, pieces.size() * 2));
  slots_.resize(capacity);
  mask_ = capacity - 1;
  // Hash a block ahead and prefetch its slots: the inserts are random writes into a table far
  // larger than the caches.
  constexpr size_t kBlock = 32;
  uint64_t hashes[kBlock];
  for (size_t base = 0; base < pieces.size(); base += kBlock) {
    const size_t m = std::min(kBlock, pieces.size() - base);
    for (size_t i = 0; i < m; ++i) {
      hashes[i] = HashBytes(pieces[base + i]);
      __builtin_prefetch(&slots_[hashes[i] & mask_], 1);
    }
    for (size_t i = 0; i < m; ++i) {
      const size_t id = base + i;
      const uint64_t h = hashes[i];
      const uint32_t tag = static_cast<uint32_t>(h >> 32);
      for (uint64_t j = h & mask_;; j = (j + 1) & mask_) {
        Slot& slot = slots_[j];
        if (slot.id < 0) {
          slot.id = static_cast<int32_t>(id);
          slot.tag = tag;
          break;
        }
        if (slot.tag == tag && pieces[slot.id] == pieces[id]) {
          duplicates_.emplace_back(slot.id, static_cast<int32_t>(id));
          break;
        }
      }
    }
  }
}

int32_t PieceIndex::FindHashed(std::string_view piece, uint64_t h) const {
  const uint32_t tag = static_cast<uint32_t>(h >> 32);
  for (uint64_t i = h & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.id < 0) return -1;
    if (slot.tag == tag && pieces_[slot.id] == piece) return slot.id;
  }
}

MergeTable::MergeTable(size_t n_merges) {
  const uint64_t capacity = std::bit_ceil(std::max<uint64_t>(16, n_merges * 2));
  slots_.resize(capacity);
  mask_ = capacity - 1;
  const uint64_t filter_bits = std::bit_ceil(std::max<uint64_t>(4096, n_merges * 16));
  filter_.assign(filter_bits / 64, 0);
  filter_mask_ = filter_bits - 1;
}

void MergeTable::Insert(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  const uint64_t key = Key(left, right);
  const uint64_t h = Mix(key);
  const uint64_t bit = (h >> 32) & filter_mask_;
  filter_[bit >> 6] |= uint64_t{1} << (bit & 63);
  for (uint64_t i = h & mask_;; i = (i + 1) & mask_) {
    Entry& e = slots_[i];
    if (e.key == key) return;
    if (e.key == kEmpty) {
      e = Entry{key, rank, merged};
      return;
    }
  }
}

void TokenMatcher::Add(std::string_view text, int32_t id, Level level) {
  if (text.empty()) return;
  int32_t node = 0;
  for (char c : text) {
    const uint64_t key = (static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(c);
    auto [it, inserted] = edges_.try_emplace(key, static_cast<int32_t>(nodes_.size()));
    if (inserted) nodes_.emplace_back();
    node = it->second;
  }
  if (nodes_[node].id < 0) nodes_[node] = Node{id, level};
  first_byte_[static_cast<uint8_t>(text[0])] = true;
}

size_t TokenMatcher::Match(std::string_view text, size_t pos, Level max_level, int32_t* id) const {
  size_t best = 0;
  int32_t node = 0;
  for (size_t j = pos; j < text.size(); ++j) {
    node = Child(node, static_cast<uint8_t>(text[j]));
    if (node < 0) break;
    const Node& n = nodes_[node];
    if (n.id >= 0 && n.level <= max_level) {
      best = j - pos + 1;
      *id = n.id;
    }
  }
  return best;
}

TokenKind Gemma4TokenKind(std::string_view piece, bool is_added, bool is_special,
                          bool in_model_vocab) {
  // Shown in detokenized text so that chat parsers can find tool calls, tool responses, string
  // delimiters and thinking channels (golden README: USER_DEFINED in llama.cpp's GGUFs).
  static constexpr std::string_view kParserVisible[] = {
      "<|tool_call>", "<tool_call|>", "<|tool_response>", "<tool_response|>",
      "<|\"|>",       "<|channel>",   "<channel|>",
  };
  if (in_model_vocab && !is_added && ParseByteToken(piece) >= 0) return TokenKind::kByte;
  if (is_added && is_special) {
    for (std::string_view p : kParserVisible) {
      if (piece == p) return TokenKind::kUserDefined;
    }
    return TokenKind::kControl;
  }
  // <mask> is a plain added token in tokenizer.json but the tokenizer's mask_token, which the
  // converter types CONTROL like the other named special tokens.
  if (is_added && piece == "<mask>") return TokenKind::kControl;
  return TokenKind::kNormal;
}

}  // namespace g4::tokenizer_internal
