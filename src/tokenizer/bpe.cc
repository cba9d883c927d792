// The encoders: rank-ordered BPE (tokenizer.json and GGUF "gemma4") and llama.cpp's
// score-ordered SentencePiece merge (GGUF "llama").
#include <algorithm>
#include <cstdint>
#include <functional>
#include <queue>

#include "base/error.h"
#include "tokenizer/tokenizer_internal.h"

namespace g4::tokenizer_internal {
namespace {

constexpr uint32_t kSpaceMarkCp = 0x2581;                // '▁'
constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // its UTF-8
constexpr uint32_t kMaxCodePoint = 0x10FFFF;

// Symbol positions are 32-bit, and valid UTF-8 is all the encoders accept.
void CheckInput(std::string_view text) {
  if (text.size() > static_cast<size_t>(INT32_MAX)) {
    Fail("tokenize: the input has ", text.size(), " bytes; at most ", INT32_MAX,
         " can be encoded at once");
  }
  const size_t bad = FindInvalidUtf8(text);
  if (bad != std::string_view::npos) {
    Fail("tokenize: input is not valid UTF-8 at byte offset ", bad, " (byte 0x", std::hex,
         static_cast<int>(static_cast<uint8_t>(text[bad])), ")");
  }
}

}  // namespace

// Per-call working memory, reused across the words of one Encode call.
struct BpeTokenizer::Scratch {
  struct Symbol {
    int32_t id;    // -1 once merged into its left neighbour
    int32_t prev;  // -1 at the start
    int32_t next;  // -1 at the end
  };
  std::vector<Symbol> symbols;
  // Candidate merges as (rank << 32 | position of the left symbol): popping the smallest gives
  // the lowest rank and, among equal ranks, the leftmost pair, as both references do.
  std::vector<uint64_t> heap;
  std::string escaped;
};

void BpeTokenizer::FinishBpe(const std::string& source, const char* field, const MergeList& list,
                             const std::vector<bool>& bpe_vocab) {
  cp_to_id_.assign(kMaxCodePoint + 1, -1);
  for (size_t id = 0; id < pieces_.size(); ++id) {
    const std::string& piece = pieces_[id];
    // A code point takes at most four bytes; longer pieces are not single characters.
    if (!bpe_vocab[id] || piece.empty() || piece.size() > 4 ||
        FindInvalidUtf8(piece) != std::string::npos) {
      continue;
    }
    size_t len = 0;
    const uint32_t cp = DecodeUtf8(piece, 0, &len);
    if (len == piece.size() && cp_to_id_[cp] < 0) cp_to_id_[cp] = static_cast<int32_t>(id);
  }
  for (int b = 0; b < 256; ++b) {
    static const char kHex[] = "0123456789ABCDEF";
    const char name[6] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
    const int32_t id = index_->Find(std::string_view(name, 6));
    byte_ids_[b] = id >= 0 && bpe_vocab[id] ? id : -1;
  }

  // Left, right and merged piece of every merge, looked up in one batch.
  const size_t n = list.refs.size();
  std::vector<int32_t> ids(3 * n);
  index_->FindBatch(
      3 * n,
      [&](size_t i) {
        const size_t m = i / 3;
        return i % 3 == 0 ? list.left(m) : i % 3 == 1 ? list.right(m) : list.merged(m);
      },
      ids.data());
  merges_.resize(n);
  rank_info_.resize(n);
  merge_table_ = std::make_unique<MergeTable>(n);
  auto usable = [&](int32_t id) { return id >= 0 && bpe_vocab[id]; };
  constexpr size_t kBlock = 64;
  for (size_t base = 0; base < n; base += kBlock) {
    const size_t end = std::min(n, base + kBlock);
    for (size_t rank = base; rank < end; ++rank) {
      const int32_t left = ids[3 * rank], right = ids[3 * rank + 1];
      if (!usable(left) || !usable(right)) {
        Fail(source, ": ", field, "[", rank, "] ('", list.left(rank), "', '", list.right(rank),
             "') uses a piece that is not in the vocabulary");
      }
      if (!usable(ids[3 * rank + 2])) {
        Fail(source, ": ", field, "[", rank, "] ('", list.left(rank), "', '", list.right(rank),
             "') makes '", list.merged(rank), "', which is not in the vocabulary");
      }
      merges_[rank] = {left, right};
      rank_info_[rank] = {left, right, ids[3 * rank + 2]};
      merge_table_->Prefetch(left, right);
    }
    for (size_t rank = base; rank < end; ++rank) {
      merge_table_->Insert(merges_[rank].first, merges_[rank].second, static_cast<int32_t>(rank),
                           ids[3 * rank + 2]);
    }
  }
}

void BpeTokenizer::EncodeWord(std::string_view word, Scratch& scratch,
                              std::vector<int32_t>* out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    scratch.escaped.clear();
    for (char c : word) {
      if (c == ' ') {
        scratch.escaped.append(kSpaceMark);
      } else {
        scratch.escaped.push_back(c);
      }
    }
    const int32_t id = index_->Find(scratch.escaped);
    if (id >= 0) {
      out->push_back(id);
      return;
    }
  }
  auto& syms = scratch.symbols;
  syms.clear();
  bool last_was_unk = false;
  auto add = [&](int32_t id, bool is_unk) {
    if (is_unk && fuse_unk_ && last_was_unk) return;
    last_was_unk = is_unk;
    syms.push_back({id, static_cast<int32_t>(syms.size()) - 1, -1});
  };
  size_t pos = 0;
  while (pos < word.size()) {
    size_t len = 0;
    uint32_t cp = DecodeUtf8(word, pos, &len);
    std::string_view bytes = word.substr(pos, len);
    pos += len;
    if (cp == ' ') {
      cp = kSpaceMarkCp;  // the normalizer's ' ' -> '▁', applied on the fly
      bytes = kSpaceMark;
    }
    const int32_t id = cp_to_id_[cp];
    if (id >= 0) {
      add(id, false);
      continue;
    }
    // Byte fallback: the character's UTF-8 bytes as <0xNN> tokens, all or none (Hugging Face);
    // without them the character becomes <unk>.
    bool all_bytes = byte_fallback_;
    for (char c : bytes) all_bytes = all_bytes && byte_ids_[static_cast<uint8_t>(c)] >= 0;
    if (all_bytes) {
      for (char c : bytes) add(byte_ids_[static_cast<uint8_t>(c)], false);
    } else if (unk_id_ >= 0) {
      add(unk_id_, true);
    }
  }
  const int32_t n = static_cast<int32_t>(syms.size());
  if (n == 0) return;
  syms[n - 1].next = -1;
  for (int32_t i = 0; i + 1 < n; ++i) syms[i].next = i + 1;

  auto& heap = scratch.heap;
  heap.clear();
  auto push = [&](int32_t left) {
    const int32_t right = syms[left].next;
    if (right < 0) return;
    const MergeTable::Entry* e = merge_table_->Find(syms[left].id, syms[right].id);
    if (e == nullptr) return;
    heap.push_back((static_cast<uint64_t>(e->rank) << 32) | static_cast<uint32_t>(left));
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  for (int32_t i = 0; i + 1 < n; ++i) {
    const MergeTable::Entry* e = merge_table_->Find(syms[i].id, syms[i + 1].id);
    if (e != nullptr)
      heap.push_back((static_cast<uint64_t>(e->rank) << 32) | static_cast<uint32_t>(i));
  }
  std::make_heap(heap.begin(), heap.end(), std::greater<>());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const uint64_t top = heap.back();
    heap.pop_back();
    const int32_t rank = static_cast<int32_t>(top >> 32);
    const int32_t left = static_cast<int32_t>(top & 0xFFFFFFFFu);
    Scratch::Symbol& l = syms[left];
    if (l.id < 0 || l.next < 0) continue;
    Scratch::Symbol& r = syms[l.next];
    // Skip entries made stale by earlier merges: a rank names exactly one pair.
    const RankInfo& info = rank_info_[rank];
    if (info.left != l.id || info.right != r.id) continue;
    l.id = info.merged;
    r.id = -1;
    l.next = r.next;
    if (l.next >= 0) syms[l.next].prev = left;
    if (l.prev >= 0) push(l.prev);
    push(left);
  }
  for (int32_t i = 0; i >= 0; i = syms[i].next) out->push_back(syms[i].id);
}

void BpeTokenizer::EncodeText(std::string_view text, Scratch& scratch,
                              std::vector<int32_t>* out) const {
  if (flavor_ == Flavor::kHfJson) {
    // The normalizer has turned every space into '▁', so the Split(" ") pre-tokenizer finds
    // nothing to split: the whole run between added tokens is one word.
    EncodeWord(text, scratch, out);
    return;
  }
  // llama.cpp's GEMMA4 pre-tokenizer: runs of newlines and runs of anything else; a newline run
  // that is itself a token is emitted whole (llama.cpp PR #21343).
  size_t pos = 0;
  while (pos < text.size()) {
    const bool newlines = text[pos] == '\n';
    size_t end = pos;
    while (end < text.size() && (text[end] == '\n') == newlines) ++end;
    const std::string_view run = text.substr(pos, end - pos);
    const int32_t whole = newlines ? index_->Find(run) : -1;
    if (whole >= 0) {
      out->push_back(whole);
    } else {
      EncodeWord(run, scratch, out);
    }
    pos = end;
  }
}

std::vector<int32_t> BpeTokenizer::EncodeImpl(std::string_view text, bool parse_special,
                                              std::span<const TextSpan> plain) const {
  CheckInput(text);
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 8);
  Scratch scratch;
  SplitOnSpecial(
      text, parse_special, plain, [&](std::string_view run) { EncodeText(run, scratch, &out); },
      [&](int32_t id) { out.push_back(id); });
  return out;
}

// ---- SentencePiece-style merge by score ---------------------------------------------------------

namespace {

struct SpmSymbol {
  int32_t prev;
  int32_t next;
  uint32_t start;  // byte range in the escaped text
  uint32_t len;    // 0 once merged into its left neighbour
};

struct SpmBigram {
  float score;
  int32_t left;
  int32_t right;
  uint32_t size;
  // Highest score first; among equal scores the leftmost (llama.cpp's llm_bigram_spm order).
  bool operator<(const SpmBigram& o) const {
    return score < o.score || (score == o.score && left > o.left);
  }
};

}  // namespace

void SpmTokenizer::EncodeText(std::string_view raw, std::vector<int32_t>* out) const {
  std::string text;
  text.reserve(raw.size() + 3);
  for (char c : raw) {
    if (c == ' ') {
      text.append(kSpaceMark);
    } else {
      text.push_back(c);
    }
  }
  std::vector<SpmSymbol> syms;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t len = 0;
    DecodeUtf8(text, pos, &len);
    syms.push_back({static_cast<int32_t>(syms.size()) - 1, -1, static_cast<uint32_t>(pos),
                    static_cast<uint32_t>(len)});
    pos += len;
  }
  const int32_t n = static_cast<int32_t>(syms.size());
  for (int32_t i = 0; i + 1 < n; ++i) syms[i].next = i + 1;

  std::priority_queue<SpmBigram> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t size = syms[left].len + syms[right].len;
    const int32_t id = index_->Find(std::string_view(text).substr(syms[left].start, size));
    if (id < 0) return;
    queue.push({scores_[id], left, right, size});
  };
  for (int32_t i = 0; i + 1 < n; ++i) try_add(i, i + 1);
  while (!queue.empty()) {
    const SpmBigram b = queue.top();
    queue.pop();
    SpmSymbol& l = syms[b.left];
    SpmSymbol& r = syms[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.size) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = syms[i].next) {
    const std::string_view piece = std::string_view(text).substr(syms[i].start, syms[i].len);
    const int32_t id = index_->Find(piece);
    if (id >= 0) {
      out->push_back(id);
      continue;
    }
    // Only single characters can be missing (merges only ever form vocabulary pieces).
    for (char c : piece) {
      const int32_t byte_id = byte_ids_[static_cast<uint8_t>(c)];
      if (byte_id >= 0) {
        out->push_back(byte_id);
      } else if (unk_id_ >= 0) {
        out->push_back(unk_id_);
      }
    }
  }
}

std::vector<int32_t> SpmTokenizer::EncodeImpl(std::string_view text, bool parse_special,
                                              std::span<const TextSpan> plain) const {
  CheckInput(text);
  std::vector<int32_t> out;
  bool prev_special = true;  // llama.cpp: a '▁' prefix at the start and after each special token
  SplitOnSpecial(
      text, parse_special, plain,
      [&](std::string_view run) {
        if (add_space_prefix_ && prev_special) {
          std::string prefixed = " ";
          prefixed.append(run);
          EncodeText(prefixed, &out);
        } else {
          EncodeText(run, &out);
        }
        prev_special = false;
      },
      [&](int32_t id) {
        out.push_back(id);
        prev_special = true;
      });
  return out;
}

}  // namespace g4::tokenizer_internal
