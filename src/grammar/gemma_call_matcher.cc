#include "grammar/gemma_call_matcher.h"

#include <algorithm>

#include "base/error.h"
#include "grammar/json_lexer.h"
#include "grammar/number_lexer.h"

namespace g4::grammar {

namespace {

// Input symbols: bytes 0..255, and the <|"|> token.
constexpr int kSymQuote = 256;

enum Kind : uint8_t { kHeader, kArgsEnd, kObject, kArray, kString, kNumber, kLiteral };
enum ObjectPhase : uint8_t { kObjOpen, kObjKey, kObjValue, kObjNext, kObjComma };
enum ArrayPhase : uint8_t { kArrOpen, kArrNext, kArrComma };

// Object key flags (Frame::sub while in a key).
constexpr uint8_t kKeyQuoted = 1;     // <|"|>name<|"|>: a declared name, spelled exactly
constexpr uint8_t kKeyNotUnlisted = 2;  // has a byte an unlisted key may not hold

constexpr uint32_t kNoNode = 0xFFFFFFFFu;     // key matches no declared spelling
constexpr uint32_t kUnlisted = 0xFFFFFFFEu;   // the property being filled is an unlisted key
constexpr uint8_t kMaxUnlistedKeyBytes = 64;
constexpr size_t kStacksKept = 64;
constexpr size_t kStacksPerStep = 4096;

// The trie byte of a symbol (<|"|> is kUnitQuote in spellings); -1 for bytes no spelling holds.
int TrieByte(int sym) {
  if (sym == kSymQuote) return kUnitQuote;
  return sym >= kUnitCallEnd ? -1 : sym;
}

// Unlisted keys (additionalProperties) are plain identifiers.
bool UnlistedKeyByte(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

void SetBit(std::vector<uint64_t>& mask, int32_t id) { mask[id >> 6] |= uint64_t{1} << (id & 63); }

}  // namespace

GemmaCallMatcher::GemmaCallMatcher(std::shared_ptr<const GemmaCallGrammar> grammar,
                                   std::shared_ptr<const TokenVocabulary> vocab, GemmaCallTokenIds ids,
                                   int max_rollback_tokens)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)), ids_(ids), max_rollback_(std::max(0, max_rollback_tokens)) {
  G4_CHECK(grammar_ && vocab_, "tool-call matcher needs a grammar and a vocabulary");
  G4_CHECK(ids_.quote >= 0 && ids_.quote < vocab_->size() && ids_.call_end >= 0 && ids_.call_end < vocab_->size(),
           "tool-call matcher needs the <|\"|> and <tool_call|> token ids");
  Reset();
}

void GemmaCallMatcher::Reset() {
  arena_.clear();
  saved_.clear();
  terminated_ = false;
  Frame h;
  h.kind = kHeader;
  h.a = static_cast<uint32_t>(grammar_->header().root());
  tops_ = {Push(h)};
}

int32_t GemmaCallMatcher::Push(const Frame& f) const {
  arena_.push_back(f);
  return static_cast<int32_t>(arena_.size()) - 1;
}

int GemmaCallMatcher::tool() const {
  for (int32_t t : tops_) {
    int32_t x = t;
    while (x >= 0 && arena_[x].kind != kArgsEnd) x = arena_[x].parent;
    if (x >= 0) return arena_[x].tool;
  }
  return -1;
}

// ---- rules --------------------------------------------------------------------------------------

bool GemmaCallMatcher::Fits(const Frame& f, int depth, uint32_t node) const {
  return depth + Schema(f).node(node).min_depth <= Schema(f).options().max_depth;
}

bool GemmaCallMatcher::UnlistedFits(const Frame& f) const {
  const int32_t extra = Schema(f).node(f.node).additional;
  return extra >= 0 && Fits(f, f.depth, static_cast<uint32_t>(extra));
}

bool GemmaCallMatcher::CanAddKey(const Frame& f) const {
  const SchemaNode& n = Schema(f).node(f.node);
  if (f.a >= n.max_props) return false;
  const uint64_t declared = n.props.size() >= 64 ? ~uint64_t{0} : (uint64_t{1} << n.props.size()) - 1;
  return (declared & ~f.bits) != 0 || UnlistedFits(f);
}

bool GemmaCallMatcher::CanClose(const Frame& f) const {
  const SchemaNode& n = Schema(f).node(f.node);
  return (f.bits & n.required) == n.required && f.a >= n.min_props;
}

int64_t GemmaCallMatcher::ItemNode(const Frame& f) const {
  const SchemaNode& n = Schema(f).node(f.node);
  return f.a < n.prefix.size() ? static_cast<int64_t>(n.prefix[f.a]) : n.items;
}

bool GemmaCallMatcher::CanAddItem(const Frame& f) const {
  const int64_t item = ItemNode(f);
  return f.a < Schema(f).node(f.node).max_items && item >= 0 && Fits(f, f.depth, static_cast<uint32_t>(item));
}

NumberLex GemmaCallMatcher::LexOf(const Frame& f) { return NumberLex{f.phase, f.negative, f.a, f.bits}; }

bool GemmaCallMatcher::NumberDone(const Frame& f) const { return NumberComplete(Schema(f).node(f.node), LexOf(f)); }

// ---- stepping -----------------------------------------------------------------------------------

void GemmaCallMatcher::StartValue(int32_t parent, uint16_t tool, uint32_t node, int depth, int sym,
                                  std::vector<int32_t>& out) const {
  const JsonSchemaGrammar& schema = *grammar_->tool(tool).schema;
  for (uint32_t leaf : schema.node(node).leaves) {
    const SchemaNode& n = schema.node(leaf);
    Frame v;
    v.parent = parent;
    v.node = leaf;
    v.tool = tool;
    v.depth = static_cast<uint8_t>(depth);
    if (!Fits(v, depth, leaf)) continue;
    switch (n.kind) {
      case NodeKind::kObject:
        if (sym != '{') break;
        v.kind = kObject;
        v.phase = kObjOpen;
        v.depth = static_cast<uint8_t>(depth + 1);
        v.bits = n.forbidden;  // and the properties too deep to fill here
        for (size_t k = 0; k < n.props.size(); ++k)
          if (!Fits(v, v.depth, n.props[k].node)) v.bits |= uint64_t{1} << k;
        out.push_back(Push(v));
        break;
      case NodeKind::kArray:
        if (sym != '[') break;
        v.kind = kArray;
        v.phase = kArrOpen;
        v.depth = static_cast<uint8_t>(depth + 1);
        out.push_back(Push(v));
        break;
      case NodeKind::kString:
        if (sym != kSymQuote) break;
        v.kind = kString;
        v.sub = kStrNormal;
        out.push_back(Push(v));
        break;
      case NodeKind::kNumber: {
        NumberLex lex;
        if (sym > 255 || !NumberStart(schema, n, static_cast<uint8_t>(sym), &lex)) break;
        v.kind = kNumber;
        v.phase = lex.phase;
        v.negative = lex.negative;
        v.a = lex.digits;
        v.bits = lex.magnitude;
        out.push_back(Push(v));
        break;
      }
      case NodeKind::kLiteral: {
        const ByteTrie& lits = grammar_->trie(grammar_->tool(tool).nodes[leaf].literal_trie);
        const int tb = TrieByte(sym);
        const int32_t next = tb < 0 ? ByteTrie::kDead : lits.Child(lits.root(), static_cast<uint8_t>(tb));
        if (next == ByteTrie::kDead) break;
        if (lits.Value(next) >= 0 && !lits.HasChildren(next)) {
          out.push_back(parent);
        } else {
          v.kind = kLiteral;
          v.a = static_cast<uint32_t>(next);
          out.push_back(Push(v));
        }
        break;
      }
      case NodeKind::kAnyOf:
        break;
    }
  }
}

void GemmaCallMatcher::Step(int32_t top, int sym, std::vector<int32_t>& out) const {
  Frame f = arena_[top];  // a copy: Push may reallocate the arena
  switch (f.kind) {
    case kHeader: {
      const ByteTrie& names = grammar_->header();
      const int32_t next = sym > 255 ? ByteTrie::kDead : names.Child(static_cast<int32_t>(f.a), static_cast<uint8_t>(sym));
      if (next == ByteTrie::kDead) return;
      const int32_t tool = names.Value(next);
      if (tool < 0) {
        f.a = static_cast<uint32_t>(next);
        out.push_back(Push(f));
        return;
      }
      // "call:NAME{" is complete: the '{' opens the arguments object.
      Frame end;
      end.kind = kArgsEnd;
      end.tool = static_cast<uint16_t>(tool);
      StartValue(Push(end), end.tool, grammar_->tool(tool).schema->root(), 0, '{', out);
      return;
    }
    case kArgsEnd:
      return;  // only <tool_call|> (not a symbol) may follow
    case kObject:
      StepObject(f, sym, out);
      return;
    case kArray:
      StepArray(f, sym, out);
      return;
    case kString: {
      const SchemaNode& n = Schema(f).node(f.node);
      if (sym == kSymQuote) {
        if (!IsInsideUtf8(f.sub) && f.a >= n.min_length) out.push_back(f.parent);
        return;
      }
      const LexStep st = StringLex(StringMode::kGemma, f.sub, static_cast<uint8_t>(sym));
      if (st.action != LexAction::kContinue) return;
      // A character that has started counts already, so the string can always close in time.
      const uint64_t chars = uint64_t{f.a} + st.codepoints + (IsInsideUtf8(st.next) ? 1 : 0);
      if (chars > n.max_length) return;
      f.a += st.codepoints;
      f.sub = st.next;
      out.push_back(Push(f));
      return;
    }
    case kNumber:
      StepNumber(f, sym, out);
      return;
    case kLiteral: {
      const ByteTrie& lits = grammar_->trie(Spelling(f).literal_trie);
      const int tb = TrieByte(sym);
      const int32_t next = tb < 0 ? ByteTrie::kDead : lits.Child(static_cast<int32_t>(f.a), static_cast<uint8_t>(tb));
      if (next == ByteTrie::kDead) {
        // A complete literal that another one extends (1 and 10): the symbol is the parent's.
        if (lits.Value(static_cast<int32_t>(f.a)) >= 0) Step(f.parent, sym, out);
      } else if (lits.Value(next) >= 0 && !lits.HasChildren(next)) {
        out.push_back(f.parent);
      } else {
        f.a = static_cast<uint32_t>(next);
        out.push_back(Push(f));
      }
      return;
    }
  }
}

void GemmaCallMatcher::StepObject(Frame f, int sym, std::vector<int32_t>& out) const {
  const SchemaNode& n = Schema(f).node(f.node);
  switch (f.phase) {
    case kObjOpen:
    case kObjComma:
      if (sym == '}') {
        if (f.phase == kObjOpen && CanClose(f)) out.push_back(f.parent);
        return;
      }
      if (!CanAddKey(f)) return;
      f.phase = kObjKey;
      f.b = static_cast<uint32_t>(grammar_->trie(Spelling(f).key_trie).root());
      f.sub = 0;
      f.key_len = 0;
      StepKey(f, sym, out);
      return;
    case kObjKey: {
      if (sym != ':') return StepKey(f, sym, out);
      const ByteTrie& keys = grammar_->trie(Spelling(f).key_trie);
      const int32_t prop = f.b == kNoNode ? -1 : keys.Value(static_cast<int32_t>(f.b));
      if (prop >= 0) {
        if ((f.bits >> prop) & 1) return;  // already there, or unusable here
        f.b = static_cast<uint32_t>(prop);
      } else if ((f.sub & kKeyQuoted) != 0) {
        return StepKey(f, sym, out);  // inside <|"|>...<|"|> a ':' is part of the name
      } else {
        if ((f.sub & kKeyNotUnlisted) != 0 || f.key_len == 0 || !UnlistedFits(f)) return;
        f.b = kUnlisted;
      }
      f.phase = kObjValue;
      out.push_back(Push(f));
      return;
    }
    case kObjValue: {
      const uint32_t value = f.b == kUnlisted ? static_cast<uint32_t>(n.additional) : n.props[f.b].node;
      Frame p = f;
      p.phase = kObjNext;
      ++p.a;
      if (f.b != kUnlisted) p.bits |= uint64_t{1} << f.b;
      StartValue(Push(p), f.tool, value, f.depth, sym, out);
      return;
    }
    case kObjNext:
      if (sym == ',' && CanAddKey(f)) {
        f.phase = kObjComma;
        out.push_back(Push(f));
      } else if (sym == '}' && CanClose(f)) {
        out.push_back(f.parent);
      }
      return;
  }
}

// One more symbol of a key (not its closing ':').
void GemmaCallMatcher::StepKey(Frame f, int sym, std::vector<int32_t>& out) const {
  const ByteTrie& keys = grammar_->trie(Spelling(f).key_trie);
  if (f.key_len == 0 && sym == kSymQuote) f.sub |= kKeyQuoted | kKeyNotUnlisted;
  const int tb = TrieByte(sym);
  const int32_t next =
      (f.b == kNoNode || tb < 0) ? ByteTrie::kDead : keys.Child(static_cast<int32_t>(f.b), static_cast<uint8_t>(tb));
  // A declared name still usable lies ahead (used names are followed too, so that writing one
  // again is recognised rather than taken for an unlisted key).
  const bool declared = next != ByteTrie::kDead && (keys.SubtreeMask(next) & ~f.bits) != 0;
  if (!UnlistedKeyByte(sym) || f.key_len >= kMaxUnlistedKeyBytes) f.sub |= kKeyNotUnlisted;
  const bool unlisted = (f.sub & kKeyNotUnlisted) == 0 && UnlistedFits(f);
  if (!declared && !unlisted) return;
  f.b = next == ByteTrie::kDead ? kNoNode : static_cast<uint32_t>(next);
  if (f.key_len < 255) ++f.key_len;
  out.push_back(Push(f));
}

void GemmaCallMatcher::StepArray(Frame f, int sym, std::vector<int32_t>& out) const {
  const SchemaNode& n = Schema(f).node(f.node);
  if (sym == ']') {
    if (f.phase != kArrComma && f.a >= n.min_items) out.push_back(f.parent);
    return;
  }
  if (f.phase == kArrNext) {
    if (sym == ',' && CanAddItem(f)) {
      f.phase = kArrComma;
      out.push_back(Push(f));
    }
    return;
  }
  if (!CanAddItem(f)) return;
  Frame p = f;
  p.phase = kArrNext;
  ++p.a;
  StartValue(Push(p), f.tool, static_cast<uint32_t>(ItemNode(f)), f.depth, sym, out);
}

void GemmaCallMatcher::StepNumber(Frame f, int sym, std::vector<int32_t>& out) const {
  if (sym > 255) {  // <|"|> never continues a number; it may follow a complete one
    if (NumberDone(f)) Step(f.parent, sym, out);
    return;
  }
  NumberLex lex = LexOf(f);
  const NumberStep step = NumberNext(Schema(f), Schema(f).node(f.node), lex, static_cast<uint8_t>(sym));
  if (step == NumberStep::kEnd) {
    Step(f.parent, sym, out);
  } else if (step == NumberStep::kContinue) {
    f.phase = lex.phase;
    f.a = lex.digits;
    f.bits = lex.magnitude;
    out.push_back(Push(f));
  }
}

// ---- stacks -------------------------------------------------------------------------------------

bool GemmaCallMatcher::Feed(std::vector<int32_t>& stacks, int sym) const {
  std::vector<int32_t> next;
  for (int32_t t : stacks) {
    Step(t, sym, next);
    if (next.size() > kStacksPerStep) break;
  }
  stacks.swap(next);
  return !stacks.empty();
}

bool GemmaCallMatcher::Equal(int32_t x, int32_t y) const {
  for (; x != y; x = arena_[x].parent, y = arena_[y].parent) {
    if (x < 0 || y < 0) return false;
    const Frame& p = arena_[x];
    const Frame& q = arena_[y];
    if (p.kind != q.kind || p.phase != q.phase || p.sub != q.sub || p.node != q.node || p.tool != q.tool ||
        p.a != q.a || p.b != q.b || p.bits != q.bits || p.depth != q.depth || p.negative != q.negative ||
        p.key_len != q.key_len)
      return false;
  }
  return true;
}

void GemmaCallMatcher::Prune(std::vector<int32_t>& tops) const {
  std::vector<int32_t> unique;
  for (int32_t t : tops) {
    if (std::none_of(unique.begin(), unique.end(), [&](int32_t u) { return Equal(u, t); })) unique.push_back(t);
    if (unique.size() == kStacksKept) break;
  }
  tops.swap(unique);
}

void GemmaCallMatcher::Commit(std::vector<int32_t> next, size_t mark) {
  if (next.size() > 1) Prune(next);
  saved_.push_back(Saved{mark, tops_, terminated_});
  if (static_cast<int>(saved_.size()) > max_rollback_) saved_.pop_front();
  tops_.swap(next);
}

bool GemmaCallMatcher::AcceptUnits(std::string_view units) {
  if (terminated_ || units.empty()) return false;
  const size_t mark = arena_.size();
  std::vector<int32_t> cur = tops_;
  for (size_t i = 0; i < units.size(); ++i) {
    const auto u = static_cast<uint8_t>(units[i]);
    if (u == kUnitCallEnd) {
      const bool can_end = i + 1 == units.size() &&
                           std::any_of(cur.begin(), cur.end(), [&](int32_t t) { return arena_[t].kind == kArgsEnd; });
      if (!can_end) break;
      Commit(std::move(cur), mark);
      terminated_ = true;
      return true;
    }
    if (!Feed(cur, u == kUnitQuote ? kSymQuote : u)) break;
    if (i + 1 == units.size()) {
      Commit(std::move(cur), mark);
      return true;
    }
  }
  arena_.resize(mark);
  return false;
}

bool GemmaCallMatcher::AcceptToken(int32_t token) {
  if (terminated_ || token < 0 || token >= vocab_->size()) return false;
  if (token == ids_.call_end) return AcceptUnits(std::string(1, static_cast<char>(kUnitCallEnd)));
  if (token == ids_.quote) return AcceptUnits(std::string(1, static_cast<char>(kUnitQuote)));
  if (vocab_->is_special(token)) return false;
  // Token bytes are fed as bytes: a byte 0xFE/0xFF is never the special token it encodes in units.
  const size_t mark = arena_.size();
  std::vector<int32_t> cur = tops_;
  for (char c : vocab_->bytes(token)) {
    if (!Feed(cur, static_cast<uint8_t>(c))) {
      arena_.resize(mark);
      return false;
    }
  }
  Commit(std::move(cur), mark);
  return true;
}

bool GemmaCallMatcher::IsTokenAllowed(int32_t token) const {
  if (terminated_ || token < 0 || token >= vocab_->size()) return false;
  const size_t mark = arena_.size();
  std::vector<int32_t> cur = tops_;
  bool ok;
  if (token == ids_.call_end) {
    ok = std::any_of(cur.begin(), cur.end(), [&](int32_t t) { return arena_[t].kind == kArgsEnd; });
  } else if (token == ids_.quote) {
    ok = Feed(cur, kSymQuote);
  } else {
    ok = !vocab_->is_special(token);
    for (char c : vocab_->bytes(token)) ok = ok && Feed(cur, static_cast<uint8_t>(c));
  }
  arena_.resize(mark);
  return ok;
}

bool GemmaCallMatcher::Rollback(int num_tokens) {
  if (num_tokens < 0 || num_tokens > static_cast<int>(saved_.size())) return false;
  if (num_tokens == 0) return true;
  saved_.resize(saved_.size() - (num_tokens - 1));
  Saved s = std::move(saved_.back());
  saved_.pop_back();
  arena_.resize(s.arena_size);
  tops_ = std::move(s.tops);
  terminated_ = s.terminated;
  return true;
}

// ---- masks --------------------------------------------------------------------------------------

// Depth-first over the vocabulary trie, carrying the stacks alive after each prefix; a prefix
// no stack survives skips its whole subtree.
void GemmaCallMatcher::WalkVocabulary(const std::vector<int32_t>& start, std::vector<uint64_t>& mask) const {
  const TokenTrie& trie = vocab_->trie();
  struct Level {
    size_t begin, end, arena;
  };
  std::vector<int32_t> alive(start);
  std::vector<Level> path(trie.max_depth() + 1);
  path[0] = Level{0, alive.size(), arena_.size()};
  const size_t base = arena_.size();
  for (uint32_t node = 1; node < trie.num_nodes();) {
    const Level& up = path[trie.depth(node) - 1];
    alive.resize(up.end);
    arena_.resize(up.arena);
    for (size_t k = up.begin; k < up.end && alive.size() - up.end <= kStacksPerStep; ++k)
      Step(alive[k], trie.byte(node), alive);
    if (alive.size() == up.end) {
      node = trie.end(node);
      continue;
    }
    path[trie.depth(node)] = Level{up.end, alive.size(), arena_.size()};
    for (uint32_t e = trie.entry_begin(node); e < trie.entry_end(node); ++e) SetBit(mask, trie.token(e));
    ++node;
  }
  arena_.resize(base);
}

void GemmaCallMatcher::FillMask(std::vector<uint64_t>& mask) const {
  mask.assign(vocab_->mask_words(), 0);
  if (terminated_) return;
  const size_t base = arena_.size();
  std::vector<int32_t> walk, scratch;
  for (int32_t t : tops_) {
    const Frame f = arena_[t];
    if (f.kind == kArgsEnd) SetBit(mask, ids_.call_end);
    scratch.clear();
    Step(t, kSymQuote, scratch);
    arena_.resize(base);
    if (!scratch.empty()) SetBit(mask, ids_.quote);
    if (f.kind == kString) {
      // Every ordinary token either stays inside the string or is refused: the cache knows which.
      const SchemaNode& n = Schema(f).node(f.node);
      const uint64_t room = n.max_length == UINT32_MAX ? UINT64_MAX : uint64_t{n.max_length} - f.a;
      OrInside(mask, vocab_->StringCache(StringMode::kGemma, f.sub), room);
    } else if (f.kind != kArgsEnd) {
      walk.push_back(t);
    }
  }
  if (!walk.empty()) WalkVocabulary(walk, mask);
}

// ---- completion ---------------------------------------------------------------------------------

std::string GemmaCallMatcher::NextUnits(int32_t top) const {
  const Frame f = arena_[top];
  const std::string quote(1, static_cast<char>(kUnitQuote));
  if (f.kind == kHeader) return grammar_->header().ShortestSuffix(static_cast<int32_t>(f.a));
  if (f.kind == kArgsEnd) return std::string(1, static_cast<char>(kUnitCallEnd));
  const JsonSchemaGrammar& schema = Schema(f);
  const SchemaNode& n = schema.node(f.node);
  const GemmaCallGrammar::Tool& tool = grammar_->tool(f.tool);
  switch (f.kind) {
    case kString:
      if (IsInsideUtf8(f.sub)) return std::string(1, static_cast<char>(StringCompletionByte(StringMode::kValue, f.sub)));
      return f.a < n.min_length ? "a" : quote;
    case kNumber:
      if (NumberDone(f)) return NextUnits(f.parent);
      return std::string(1, static_cast<char>(NumberCompletionByte(schema, n, LexOf(f))));
    case kLiteral: {
      const ByteTrie& lits = grammar_->trie(tool.nodes[f.node].literal_trie);
      if (lits.Value(static_cast<int32_t>(f.a)) >= 0) return NextUnits(f.parent);
      return lits.ShortestSuffix(static_cast<int32_t>(f.a));
    }
    case kArray:
      if (f.phase != kArrComma && f.a >= n.min_items) return "]";
      if (f.phase == kArrNext) return ",";
      return tool.nodes[static_cast<uint32_t>(ItemNode(f))].min_doc;
    case kObject:
      break;
    default:
      G4_CHECK(false, "unreachable tool-call matcher state");
  }
  // Objects: declared properties still to come, required ones first.
  const GemmaCallGrammar::NodeSpelling& sp = tool.nodes[f.node];
  std::vector<size_t> todo;
  for (int required = 1; required >= 0; --required)
    for (size_t k = 0; k < n.props.size(); ++k)
      if (!((f.bits >> k) & 1) && ((n.required >> k) & 1) == static_cast<uint64_t>(required)) todo.push_back(k);
  // An unlisted key that is no declared name.
  auto unlisted_key = [&] {
    std::string key = "_";
    while (std::find(sp.keys.begin(), sp.keys.end(), key) != sp.keys.end()) key += "_";
    return key;
  };
  switch (f.phase) {
    case kObjOpen:
    case kObjNext:
      if (CanClose(f)) return "}";
      if (f.phase == kObjNext) return ",";
      [[fallthrough]];
    case kObjComma:
      return (todo.empty() ? unlisted_key() : sp.keys[todo[0]]) + ":";
    case kObjKey: {
      const ByteTrie& keys = grammar_->trie(sp.key_trie);
      if (f.b != kNoNode) {
        for (size_t k : todo) {
          int32_t node = keys.root();
          for (size_t i = 0; i <= sp.keys[k].size() && node != ByteTrie::kDead; ++i) {
            if (static_cast<uint32_t>(node) == f.b) return sp.keys[k].substr(i) + ":";
            if (i < sp.keys[k].size()) node = keys.Child(node, static_cast<uint8_t>(sp.keys[k][i]));
          }
        }
        // Spelling a used name: make it an unlisted key instead.
        if (keys.Value(static_cast<int32_t>(f.b)) >= 0) return "_";
      }
      return ":";
    }
    case kObjValue:
      return tool.nodes[f.b == kUnlisted ? static_cast<uint32_t>(n.additional) : n.props[f.b].node].min_doc;
  }
  G4_CHECK(false, "unreachable object phase");
  return {};
}

std::string GemmaCallMatcher::CompletionUnits() const {
  std::string out;
  if (terminated_) return out;
  const size_t base = arena_.size();
  std::vector<int32_t> cur = tops_;
  for (int iter = 0; iter < (1 << 20); ++iter) {
    if (std::any_of(cur.begin(), cur.end(), [&](int32_t t) { return arena_[t].kind == kArgsEnd; })) {
      out += static_cast<char>(kUnitCallEnd);
      break;
    }
    const std::string units = NextUnits(cur[0]);
    for (char c : units) {
      const auto u = static_cast<uint8_t>(c);
      G4_CHECK(Feed(cur, u == kUnitQuote ? kSymQuote : u), "tool-call completion rejected by its own grammar");
    }
    out += units;
    if (cur.size() > kStacksKept) cur.resize(kStacksKept);
  }
  arena_.resize(base);
  return out;
}

}  // namespace g4::grammar
