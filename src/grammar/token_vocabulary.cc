#include "grammar/token_vocabulary.h"

#include <algorithm>

#include "base/error.h"

namespace g4::grammar {

TokenVocabulary::TokenVocabulary(std::vector<std::string> token_bytes, const std::vector<bool>& special,
                                 std::vector<int32_t> end_tokens)
    : bytes_(std::move(token_bytes)), end_tokens_(std::move(end_tokens)) {
  const int32_t n = static_cast<int32_t>(bytes_.size());
  if (!special.empty() && special.size() != bytes_.size())
    Fail("token vocabulary: ", special.size(), " special flags for ", bytes_.size(), " tokens");
  special_.assign(bytes_.size(), 0);
  for (int32_t i = 0; i < n; ++i)
    special_[i] = (!special.empty() && special[i]) || bytes_[i].empty();
  for (int32_t id : end_tokens_) {
    if (id < 0 || id >= n) Fail("token vocabulary: end token id ", id, " is out of range [0, ", n, ")");
    special_[id] = 1;
  }
  std::vector<TokenTrie::Entry> entries;
  entries.reserve(bytes_.size());
  for (int32_t i = 0; i < n; ++i)
    if (!special_[i]) entries.push_back({bytes_[i], i, 0});
  trie_.Build(std::move(entries));
}

std::string TokenVocabulary::PieceToBytes(std::string_view piece) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (piece.size() == 6 && piece.substr(0, 3) == "<0x" && piece[5] == '>' && hex(piece[3]) >= 0 &&
      hex(piece[4]) >= 0)
    return std::string(1, static_cast<char>(hex(piece[3]) * 16 + hex(piece[4])));
  static constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK
  std::string out;
  out.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kSpace.size(), kSpace) == 0) {
      out.push_back(' ');
      i += kSpace.size();
    } else {
      out.push_back(piece[i++]);
    }
  }
  return out;
}

std::shared_ptr<TokenVocabulary> TokenVocabulary::FromPieces(const std::vector<std::string>& pieces,
                                                             const std::vector<int64_t>& token_types,
                                                             std::vector<int32_t> end_tokens) {
  if (!token_types.empty() && token_types.size() != pieces.size())
    Fail("token vocabulary: ", token_types.size(), " token types for ", pieces.size(), " tokens");
  std::vector<std::string> bytes(pieces.size());
  std::vector<bool> special(pieces.size(), false);
  for (size_t i = 0; i < pieces.size(); ++i) {
    const std::string& p = pieces[i];
    const bool angle = p.size() >= 3 && p.front() == '<' && p.back() == '>';
    const bool byte_token = p.size() == 6 && p.compare(0, 3, "<0x") == 0;
    const int64_t type = token_types.empty() ? (angle && !byte_token ? 3 : 1) : token_types[i];
    special[i] = type == 2 || type == 3 || type == 5 || (type == 4 && angle);
    bytes[i] = PieceToBytes(p);
  }
  return std::make_shared<TokenVocabulary>(std::move(bytes), special, std::move(end_tokens));
}

const StringTokenCache& TokenVocabulary::StringCache(StringMode mode, uint8_t state) const {
  G4_CHECK(state < kNumStringStates, "bad string state ", int{state});
  const int slot = static_cast<int>(mode) * kNumStringStates + state;
  std::call_once(once_[slot], [&] {
    auto cache = std::make_unique<StringTokenCache>();
    BuildStringCache(mode, state, *cache);
    caches_[slot] = std::move(cache);
  });
  return *caches_[slot];
}

void TokenVocabulary::BuildStringCache(StringMode mode, uint8_t start, StringTokenCache& cache) const {
  const int32_t n = size();
  cache.inside.assign(mask_words(), 0);
  cache.inside_cp.assign(mask_words() * 64, 255);  // padded to whole words for the mask loop
  std::vector<TokenTrie::Entry> exits;
  for (int32_t t = 0; t < n; ++t) {
    if (special_[t]) continue;
    const std::string& b = bytes_[t];
    uint8_t state = start;
    uint32_t cp = 0;
    bool rejected = false;
    for (size_t i = 0; i < b.size(); ++i) {
      LexStep step = StringLex(mode, state, static_cast<uint8_t>(b[i]));
      if (step.action == LexAction::kReject) {
        rejected = true;
        break;
      }
      if (step.action == LexAction::kClose) {
        exits.push_back({std::string_view(b).substr(i + 1), t, static_cast<uint8_t>(std::min<uint32_t>(cp, 255))});
        rejected = true;  // not an inside token
        break;
      }
      state = step.next;
      cp += step.codepoints;
    }
    if (rejected) continue;
    // A character left unfinished at the end of the token counts as well: the matcher reserves
    // room for it against maxLength as soon as it starts.
    if (mode == StringMode::kGemma ? IsInsideUtf8(state) : state != kStrNormal) ++cp;
    cache.inside[t >> 6] |= uint64_t{1} << (t & 63);
    cache.inside_cp[t] = static_cast<uint8_t>(std::min<uint32_t>(cp, 255));
    cache.max_inside_cp = std::max(cache.max_inside_cp, cp);
  }
  cache.exits.Build(std::move(exits));
}

}  // namespace g4::grammar
