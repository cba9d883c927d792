// GrammarMatcher: token masks and completions.
#include <algorithm>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "base/error.h"
#include "grammar/grammar_matcher.h"
#include "grammar/json_lexer.h"
#include "grammar/matcher_states.h"

namespace g4::grammar {

using namespace detail;  // NOLINT: frame kinds and phases

namespace {

inline void SetBit(std::vector<uint64_t>& mask, int32_t t) { mask[t >> 6] |= uint64_t{1} << (t & 63); }

}  // namespace

void OrInside(std::vector<uint64_t>& mask, const StringTokenCache& cache, uint64_t room) {
  const size_t words = mask.size();
  if (room >= cache.max_inside_cp) {
    for (size_t w = 0; w < words; ++w) mask[w] |= cache.inside[w];
    return;
  }
  // Per token: characters <= room (255 means "255 or more", never taken). inside_cp is padded
  // to whole words, so 64 compares make one word of bits.
  const uint8_t limit = static_cast<uint8_t>(std::min<uint64_t>(room, 254));
  const uint8_t* cp = cache.inside_cp.data();
  for (size_t w = 0; w < words; ++w, cp += 64) {
    if (cache.inside[w] == 0) continue;
    uint64_t bits = 0;
#if defined(__SSE2__)
    const __m128i lim = _mm_set1_epi8(static_cast<char>(limit));
    for (int q = 0; q < 4; ++q) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(cp + 16 * q));
      const __m128i le = _mm_cmpeq_epi8(_mm_min_epu8(v, lim), v);  // unsigned v <= limit
      bits |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(le))) << (16 * q);
    }
#else
    for (int j = 0; j < 64; ++j) bits |= static_cast<uint64_t>(cp[j] <= limit) << j;
#endif
    mask[w] |= cache.inside[w] & bits;
  }
}

void GrammarMatcher::WalkTrie(const TokenTrie& trie, const std::vector<int32_t>& start, uint32_t min_cp,
                              uint32_t max_cp, uint32_t chars_so_far, std::vector<uint64_t>& mask) const {
  // Exit tries carry the characters each token adds before the closing quote; check them against
  // the string's length limits. (The vocabulary trie passes no limits.)
  const bool limited = min_cp > 0 || max_cp != UINT32_MAX;
  auto mark = [&](uint32_t node) {
    for (uint32_t e = trie.entry_begin(node); e < trie.entry_end(node); ++e) {
      if (limited) {
        const uint64_t total = uint64_t{chars_so_far} + trie.aux(e);
        if (trie.aux(e) == 255 || total < min_cp || total > max_cp) continue;
      }
      SetBit(mask, trie.token(e));
    }
  };
  const size_t base = arena_.size();
  set_buf_.assign(start.begin(), start.end());
  levels_.resize(trie.max_depth() + 1);
  levels_[0] = Level{0, set_buf_.size(), base};
  mark(0);
  const uint32_t n = trie.num_nodes();
  for (uint32_t i = 1; i < n;) {
    const Level parent = levels_[trie.depth(i) - 1];
    set_buf_.resize(parent.set_end);
    arena_.resize(parent.arena_size);
    const uint8_t c = trie.byte(i);
    for (size_t k = parent.set_begin; k < parent.set_end; ++k) {
      Step(set_buf_[k], c, set_buf_);
      if (set_buf_.size() - parent.set_end > kMaxStacksInToken) break;
    }
    if (set_buf_.size() == parent.set_end) {
      i = trie.end(i);  // no stack survives this prefix: skip every token below it
      continue;
    }
    levels_[trie.depth(i)] = Level{parent.set_end, set_buf_.size(), arena_.size()};
    mark(i);
    ++i;
  }
  arena_.resize(base);
}

void GrammarMatcher::FillMask(std::vector<uint64_t>& mask) const {
  mask.assign(vocab_->mask_words(), 0);
  if (terminated_) return;
  const size_t base = arena_.size();
  std::vector<int32_t> generic;
  for (int32_t t : tops_) {
    const Frame f = arena_[t];
    if (f.kind == kString) {
      // Inside a string value: the cache knows every token that stays inside; only tokens that
      // close the string are walked, from the state after the closing quote.
      const SchemaNode& n = grammar_->node(f.node);
      const StringTokenCache& cache = vocab_->StringCache(StringMode::kValue, f.sub);
      OrInside(mask, cache, n.max_length == UINT32_MAX ? UINT64_MAX : uint64_t{n.max_length} - f.a);
      WalkTrie(cache.exits, {f.parent}, n.min_length, n.max_length, f.a, mask);
    } else if (f.kind == kObject && f.phase == kObjKey && AdditionalFits(f)) {
      // Inside a key where unlisted keys are allowed: any key text is fine until it closes.
      const StringTokenCache& cache = vocab_->StringCache(StringMode::kKey, f.sub);
      OrInside(mask, cache, UINT64_MAX);
      if (f.b == kDeadKey) {
        Frame after = f;
        after.phase = kObjAfterKey;
        after.b = kAdditionalProp;
        after.ws = 0;
        WalkTrie(cache.exits, {Push(after)}, 0, UINT32_MAX, 0, mask);
      } else {
        // The key may still become a declared name: which one depends on the token's bytes
        // before the quote, so check each closing token on its own.
        std::vector<int32_t> next;
        const std::vector<int32_t> from = {t};
        for (uint32_t e = 0; e < cache.exits.num_entries(); ++e) {
          const int32_t token = cache.exits.token(e);
          if ((mask[token >> 6] >> (token & 63)) & 1) continue;
          const size_t mark = arena_.size();
          if (Advance(from, vocab_->bytes(token), next)) SetBit(mask, token);
          arena_.resize(mark);
        }
      }
    } else {
      generic.push_back(t);
    }
    arena_.resize(base);
  }
  if (!generic.empty()) WalkTrie(vocab_->trie(), generic, 0, UINT32_MAX, 0, mask);
  arena_.resize(base);
  if (IsComplete())
    for (int32_t id : vocab_->end_tokens()) SetBit(mask, id);
}

std::string GrammarMatcher::NextCompletionBytes(int32_t top) const {
  const Frame f = arena_[top];
  const SchemaNode& n = grammar_->node(f.node);
  switch (f.kind) {
    case kRoot:
      return n.min_doc;
    case kString:
      if (f.sub != kStrNormal) return std::string(1, static_cast<char>(StringCompletionByte(StringMode::kValue, f.sub)));
      return f.a < n.min_length ? "a" : "\"";
    case kNumber:
      if (NumberAccepting(f)) return NextCompletionBytes(f.parent);
      return std::string(1, static_cast<char>(NumberCompletionByte(*grammar_, n, LexOf(f))));
    case kLiteral: {
      const ByteTrie& trie = grammar_->trie(n.lit_trie);
      if (trie.Value(static_cast<int32_t>(f.a)) >= 0) return NextCompletionBytes(f.parent);
      return trie.ShortestSuffix(static_cast<int32_t>(f.a));
    }
    case kArray:
      if (f.phase != kArrAfterComma && f.a >= n.min_items) return "]";
      if (f.phase == kArrAfterValue) return ",";
      return grammar_->node(static_cast<uint32_t>(ItemNode(f))).min_doc;
    case kObject: {
      // Declared properties still to come: required ones first.
      std::vector<size_t> order;
      for (int pass = 0; pass < 2; ++pass)
        for (size_t k = 0; k < n.props.size(); ++k)
          if (!((f.bits >> k) & 1) && (((n.required >> k) & 1) == (pass == 0 ? 1u : 0u))) order.push_back(k);
      switch (f.phase) {
        case kObjStart:
        case kObjAfterValue:
          if (CanCloseObject(f)) return "}";
          if (f.phase == kObjAfterValue) return ",";
          [[fallthrough]];
        case kObjAfterComma: {
          if (!order.empty()) return "\"" + n.props[order[0]].key + "\":";
          // Only unlisted keys are left: pick one that is no declared name.
          std::string key = "_";
          for (bool clash = true; clash;) {
            clash = false;
            for (const auto& p : n.props) clash = clash || p.key == key;
            if (clash) key += "_";
          }
          return "\"" + key + "\":";
        }
        case kObjKey: {
          if (f.b != kDeadKey) {
            const ByteTrie& keys = grammar_->trie(n.key_trie);
            for (size_t k : order) {
              const std::string& key = n.props[k].key;
              int32_t node = keys.root();
              for (size_t i = 0; i <= key.size() && node != ByteTrie::kDead; ++i) {
                if (static_cast<uint32_t>(node) == f.b) return key.substr(i) + "\"";
                if (i < key.size()) node = keys.Child(node, static_cast<uint8_t>(key[i]));
              }
            }
          }
          if (f.sub != kStrNormal)
            return std::string(1, static_cast<char>(StringCompletionByte(StringMode::kKey, f.sub)));
          // An unlisted key: close it, unless it spells a declared name already used.
          if (f.b != kDeadKey && grammar_->trie(n.key_trie).Value(static_cast<int32_t>(f.b)) >= 0) return "_";
          return "\"";
        }
        case kObjAfterKey:
          return ":";
        case kObjColon:
          return grammar_->node(f.b == kAdditionalProp ? static_cast<uint32_t>(n.additional) : n.props[f.b].node)
              .min_doc;
      }
      break;
    }
  }
  G4_CHECK(false, "unreachable matcher state");
  return {};
}

std::string GrammarMatcher::CompletionBytes() const {
  std::string out;
  if (terminated_) return out;
  const size_t base = arena_.size();
  std::vector<int32_t> cur = tops_, next;
  for (int iter = 0; iter < (1 << 20); ++iter) {
    bool done = false;
    for (int32_t t : cur) done = done || CanEnd(t);
    if (done) break;
    const std::string bytes = NextCompletionBytes(cur[0]);
    G4_CHECK(Advance(cur, bytes, next), "completion bytes rejected by the grammar at ", grammar_->node(arena_[cur[0]].node).path);
    out += bytes;
    cur.swap(next);
    if (cur.size() > kMaxStacks) cur.resize(kMaxStacks);
  }
  arena_.resize(base);
  return out;
}

}  // namespace g4::grammar
