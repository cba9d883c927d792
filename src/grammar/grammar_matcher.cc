#include "grammar/grammar_matcher.h"

#include <algorithm>

#include "base/error.h"
#include "grammar/json_lexer.h"
#include "grammar/matcher_states.h"
#include "grammar/number_lexer.h"

namespace g4::grammar {

using namespace detail;  // NOLINT: frame kinds and phases

GrammarMatcher::GrammarMatcher(std::shared_ptr<const JsonSchemaGrammar> grammar,
                               std::shared_ptr<const TokenVocabulary> vocab, int max_rollback_tokens)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)), max_rollback_(std::max(0, max_rollback_tokens)) {
  G4_CHECK(grammar_ && vocab_, "grammar matcher needs a grammar and a vocabulary");
  Reset();
}

void GrammarMatcher::Reset() {
  arena_.clear();
  history_.clear();
  terminated_ = false;
  Frame root;
  root.kind = kRoot;
  root.phase = kRootBefore;
  root.node = grammar_->root();
  tops_ = {Push(root)};
}

int32_t GrammarMatcher::Push(const Frame& f) const {
  arena_.push_back(f);
  return static_cast<int32_t>(arena_.size() - 1);
}

bool GrammarMatcher::Fits(int depth, uint32_t node) const {
  return depth + grammar_->node(node).min_depth <= grammar_->options().max_depth;
}

bool GrammarMatcher::AdditionalFits(const Frame& f) const {
  const SchemaNode& n = grammar_->node(f.node);
  return n.additional >= 0 && Fits(f.depth, static_cast<uint32_t>(n.additional));
}

bool GrammarMatcher::KeyPossible(const Frame& f) const {
  const SchemaNode& n = grammar_->node(f.node);
  if (f.a >= n.max_props) return false;
  const uint64_t all = n.props.size() >= 64 ? ~uint64_t{0} : (uint64_t{1} << n.props.size()) - 1;
  return (~f.bits & all) != 0 || AdditionalFits(f);
}

bool GrammarMatcher::CanCloseObject(const Frame& f) const {
  const SchemaNode& n = grammar_->node(f.node);
  return (f.bits & n.required) == n.required && f.a >= n.min_props;
}

int64_t GrammarMatcher::ItemNode(const Frame& f) const {
  const SchemaNode& n = grammar_->node(f.node);
  return f.a < n.prefix.size() ? static_cast<int64_t>(n.prefix[f.a]) : n.items;
}

bool GrammarMatcher::ItemPossible(const Frame& f) const {
  const SchemaNode& n = grammar_->node(f.node);
  const int64_t item = ItemNode(f);
  return f.a < n.max_items && item >= 0 && Fits(f.depth, static_cast<uint32_t>(item));
}

NumberLex GrammarMatcher::LexOf(const Frame& f) { return NumberLex{f.phase, f.negative, f.a, f.bits}; }

bool GrammarMatcher::NumberAccepting(const Frame& f) const {
  return NumberComplete(grammar_->node(f.node), LexOf(f));
}

void GrammarMatcher::StartValue(int32_t parent, uint32_t node, int parent_depth, uint8_t c,
                                std::vector<int32_t>& out) const {
  for (uint32_t leaf : grammar_->node(node).leaves) {
    const SchemaNode& n = grammar_->node(leaf);
    if (!n.first.test(c) || !Fits(parent_depth, leaf)) continue;
    Frame ch;
    ch.parent = parent;
    ch.node = leaf;
    ch.depth = static_cast<uint8_t>(parent_depth);
    switch (n.kind) {
      case NodeKind::kObject: {
        ch.kind = kObject;
        ch.phase = kObjStart;
        ch.depth = static_cast<uint8_t>(parent_depth + 1);
        // Properties that cannot be generated at this depth count as used.
        ch.bits = n.forbidden;
        for (size_t k = 0; k < n.props.size(); ++k)
          if (!Fits(ch.depth, n.props[k].node)) ch.bits |= uint64_t{1} << k;
        out.push_back(Push(ch));
        break;
      }
      case NodeKind::kArray:
        ch.kind = kArray;
        ch.phase = kArrStart;
        ch.depth = static_cast<uint8_t>(parent_depth + 1);
        out.push_back(Push(ch));
        break;
      case NodeKind::kString:
        ch.kind = kString;
        ch.sub = kStrNormal;
        out.push_back(Push(ch));
        break;
      case NodeKind::kNumber: {
        NumberLex lex;
        if (!NumberStart(*grammar_, n, c, &lex)) break;
        ch.kind = kNumber;
        ch.phase = lex.phase;
        ch.negative = lex.negative;
        ch.a = lex.digits;
        ch.bits = lex.magnitude;
        out.push_back(Push(ch));
        break;
      }
      case NodeKind::kLiteral: {
        const ByteTrie& trie = grammar_->trie(n.lit_trie);
        const int32_t next = trie.Child(trie.root(), c);
        if (trie.Value(next) >= 0 && !trie.HasChildren(next)) {
          out.push_back(parent);  // a one-byte literal is already complete
        } else {
          ch.kind = kLiteral;
          ch.a = static_cast<uint32_t>(next);
          out.push_back(Push(ch));
        }
        break;
      }
      case NodeKind::kAnyOf:
        break;
    }
  }
}

void GrammarMatcher::Step(int32_t top, uint8_t c, std::vector<int32_t>& out) const {
  Frame f = arena_[top];  // by value: Push may move the arena
  const int max_ws = grammar_->options().max_whitespace;
  switch (f.kind) {
    case kRoot:
      if (IsJsonWhitespace(c)) {
        if (f.ws < max_ws) {
          ++f.ws;
          out.push_back(Push(f));
        }
        return;
      }
      if (f.phase == kRootBefore) {
        f.phase = kRootAfter;
        f.ws = 0;
        StartValue(Push(f), f.node, 0, c, out);
      }
      return;
    case kObject:
      if (f.phase != kObjKey && IsJsonWhitespace(c)) {
        if (f.ws < max_ws) {
          ++f.ws;
          out.push_back(Push(f));
        }
        return;
      }
      StepObject(f, c, out);
      return;
    case kArray:
      if (IsJsonWhitespace(c)) {
        if (f.ws < max_ws) {
          ++f.ws;
          out.push_back(Push(f));
        }
        return;
      }
      StepArray(f, c, out);
      return;
    case kString: {
      const LexStep st = StringLex(StringMode::kValue, f.sub, c);
      if (st.action == LexAction::kReject) return;
      const SchemaNode& n = grammar_->node(f.node);
      if (st.action == LexAction::kClose) {
        if (f.a >= n.min_length) out.push_back(f.parent);
        return;
      }
      // A started character counts already, so the string can always still close in time.
      const uint64_t chars = uint64_t{f.a} + st.codepoints + (st.next != kStrNormal ? 1 : 0);
      if (chars > n.max_length) return;
      f.a += st.codepoints;
      f.sub = st.next;
      out.push_back(Push(f));
      return;
    }
    case kNumber:
      StepNumber(f, c, out);
      return;
    case kLiteral: {
      const ByteTrie& trie = grammar_->trie(grammar_->node(f.node).lit_trie);
      const int32_t next = trie.Child(static_cast<int32_t>(f.a), c);
      if (next != ByteTrie::kDead) {
        if (trie.Value(next) >= 0 && !trie.HasChildren(next)) {
          out.push_back(f.parent);
        } else {
          f.a = static_cast<uint32_t>(next);
          out.push_back(Push(f));
        }
      } else if (trie.Value(static_cast<int32_t>(f.a)) >= 0) {
        Step(f.parent, c, out);  // the literal ended (e.g. enum 1 of 1 and 10): byte is the parent's
      }
      return;
    }
  }
}

void GrammarMatcher::StepObject(Frame f, uint8_t c, std::vector<int32_t>& out) const {
  const SchemaNode& n = grammar_->node(f.node);
  const ByteTrie& keys = grammar_->trie(n.key_trie);
  switch (f.phase) {
    case kObjStart:
    case kObjAfterComma:
      if (c == '"' && KeyPossible(f)) {
        // The trie node follows the key through every declared name (used ones too, so that a
        // repeated name is recognised as such rather than taken for an unlisted key).
        const bool usable = (keys.SubtreeMask(keys.root()) & ~f.bits) != 0;
        if (!usable && !AdditionalFits(f)) return;
        f.phase = kObjKey;
        f.sub = kStrNormal;
        f.b = keys.HasChildren(keys.root()) || keys.Value(keys.root()) >= 0 ? static_cast<uint32_t>(keys.root())
                                                                             : kDeadKey;
        f.ws = 0;
        out.push_back(Push(f));
      } else if (c == '}' && f.phase == kObjStart && CanCloseObject(f)) {
        out.push_back(f.parent);
      }
      return;
    case kObjKey: {
      const LexStep st = StringLex(StringMode::kKey, f.sub, c);
      if (st.action == LexAction::kReject) return;
      if (st.action == LexAction::kClose) {
        const int32_t prop = f.b == kDeadKey ? -1 : keys.Value(static_cast<int32_t>(f.b));
        if (prop >= 0) {
          if ((f.bits >> prop) & 1) return;  // a declared key again, or one not usable here
          f.b = static_cast<uint32_t>(prop);
        } else {
          if (!AdditionalFits(f)) return;
          f.b = kAdditionalProp;
        }
        f.phase = kObjAfterKey;
        f.ws = 0;
        out.push_back(Push(f));
        return;
      }
      if (f.b != kDeadKey) {
        const int32_t next = keys.Child(static_cast<int32_t>(f.b), c);
        f.b = next == ByteTrie::kDead ? kDeadKey : static_cast<uint32_t>(next);
      }
      // Without unlisted keys, the key must stay on the way to a declared name still usable.
      if (!AdditionalFits(f) &&
          (f.b == kDeadKey || (keys.SubtreeMask(static_cast<int32_t>(f.b)) & ~f.bits) == 0))
        return;
      f.sub = st.next;
      out.push_back(Push(f));
      return;
    }
    case kObjAfterKey:
      if (c == ':') {
        f.phase = kObjColon;
        f.ws = 0;
        out.push_back(Push(f));
      }
      return;
    case kObjColon: {
      const uint32_t value_node =
          f.b == kAdditionalProp ? static_cast<uint32_t>(n.additional) : n.props[f.b].node;
      Frame p = f;
      p.phase = kObjAfterValue;
      p.ws = 0;
      ++p.a;
      if (f.b != kAdditionalProp) p.bits |= uint64_t{1} << f.b;
      StartValue(Push(p), value_node, f.depth, c, out);
      return;
    }
    case kObjAfterValue:
      if (c == ',' && KeyPossible(f)) {
        f.phase = kObjAfterComma;
        f.ws = 0;
        out.push_back(Push(f));
      } else if (c == '}' && CanCloseObject(f)) {
        out.push_back(f.parent);
      }
      return;
  }
}

void GrammarMatcher::StepArray(Frame f, uint8_t c, std::vector<int32_t>& out) const {
  const SchemaNode& n = grammar_->node(f.node);
  if (c == ']' && f.phase != kArrAfterComma) {
    if (f.a >= n.min_items) out.push_back(f.parent);
    return;
  }
  if (c == ',' && f.phase == kArrAfterValue) {
    if (ItemPossible(f)) {
      f.phase = kArrAfterComma;
      f.ws = 0;
      out.push_back(Push(f));
    }
    return;
  }
  if (f.phase == kArrAfterValue || !ItemPossible(f)) return;
  const uint32_t item = static_cast<uint32_t>(ItemNode(f));
  Frame p = f;
  p.phase = kArrAfterValue;
  p.ws = 0;
  ++p.a;
  StartValue(Push(p), item, f.depth, c, out);
}

void GrammarMatcher::StepNumber(Frame f, uint8_t c, std::vector<int32_t>& out) const {
  NumberLex lex = LexOf(f);
  switch (NumberNext(*grammar_, grammar_->node(f.node), lex, c)) {
    case NumberStep::kContinue:
      f.phase = lex.phase;
      f.a = lex.digits;
      f.bits = lex.magnitude;
      out.push_back(Push(f));
      return;
    case NumberStep::kEnd:
      Step(f.parent, c, out);  // the number ended: the byte is the parent's
      return;
    case NumberStep::kReject:
      return;
  }
}

bool GrammarMatcher::Advance(const std::vector<int32_t>& from, std::string_view bytes,
                             std::vector<int32_t>& to) const {
  std::vector<int32_t> cur = from, next;
  for (char ch : bytes) {
    next.clear();
    for (int32_t t : cur) {
      Step(t, static_cast<uint8_t>(ch), next);
      if (next.size() > kMaxStacksInToken) break;
    }
    if (next.empty()) return false;
    cur.swap(next);
  }
  to.swap(cur);
  return true;
}

bool GrammarMatcher::SameStack(int32_t x, int32_t y) const {
  while (x != y) {
    if (x < 0 || y < 0) return false;
    const Frame& a = arena_[x];
    const Frame& b = arena_[y];
    if (a.node != b.node || a.a != b.a || a.b != b.b || a.bits != b.bits || a.kind != b.kind ||
        a.phase != b.phase || a.sub != b.sub || a.ws != b.ws || a.depth != b.depth || a.negative != b.negative)
      return false;
    x = a.parent;
    y = b.parent;
  }
  return true;
}

void GrammarMatcher::Dedup(std::vector<int32_t>& tops) const {
  std::vector<int32_t> kept;
  for (int32_t t : tops) {
    bool dup = false;
    for (int32_t k : kept) dup = dup || SameStack(k, t);
    if (!dup) kept.push_back(t);
    if (kept.size() == kMaxStacks) break;
  }
  tops.swap(kept);
}

bool GrammarMatcher::AcceptBytes(std::string_view bytes) {
  if (terminated_) return false;
  const size_t mark = arena_.size();
  std::vector<int32_t> next;
  if (!Advance(tops_, bytes, next)) {
    arena_.resize(mark);
    return false;
  }
  if (next.size() > 1) Dedup(next);
  history_.push_back(Snapshot{mark, tops_, terminated_});
  if (static_cast<int>(history_.size()) > max_rollback_) history_.pop_front();
  tops_.swap(next);
  return true;
}

bool GrammarMatcher::AcceptToken(int32_t token) {
  if (terminated_ || token < 0 || token >= vocab_->size()) return false;
  const auto& ends = vocab_->end_tokens();
  if (std::find(ends.begin(), ends.end(), token) != ends.end()) {
    if (!IsComplete()) return false;
    history_.push_back(Snapshot{arena_.size(), tops_, terminated_});
    if (static_cast<int>(history_.size()) > max_rollback_) history_.pop_front();
    terminated_ = true;
    return true;
  }
  if (vocab_->is_special(token)) return false;
  return AcceptBytes(vocab_->bytes(token));
}

bool GrammarMatcher::IsTokenAllowed(int32_t token) const {
  if (terminated_ || token < 0 || token >= vocab_->size()) return false;
  const auto& ends = vocab_->end_tokens();
  if (std::find(ends.begin(), ends.end(), token) != ends.end()) return IsComplete();
  if (vocab_->is_special(token)) return false;
  const size_t mark = arena_.size();
  std::vector<int32_t> next;
  const bool ok = Advance(tops_, vocab_->bytes(token), next);
  arena_.resize(mark);
  return ok;
}

bool GrammarMatcher::Rollback(int num_tokens) {
  if (num_tokens < 0 || num_tokens > static_cast<int>(history_.size())) return false;
  if (num_tokens == 0) return true;
  for (int i = 1; i < num_tokens; ++i) history_.pop_back();
  Snapshot s = std::move(history_.back());
  history_.pop_back();
  arena_.resize(s.arena_size);
  tops_ = std::move(s.tops);
  terminated_ = s.terminated;
  return true;
}

bool GrammarMatcher::CanEnd(int32_t top) const {
  const Frame& f = arena_[top];
  if (f.kind == kRoot) return f.phase == kRootAfter;
  bool finished = false;
  if (f.kind == kNumber) finished = NumberAccepting(f);
  if (f.kind == kLiteral)
    finished = grammar_->trie(grammar_->node(f.node).lit_trie).Value(static_cast<int32_t>(f.a)) >= 0;
  return finished && arena_[f.parent].kind == kRoot;
}

bool GrammarMatcher::IsComplete() const {
  if (terminated_) return false;
  for (int32_t t : tops_)
    if (CanEnd(t)) return true;
  return false;
}

}  // namespace g4::grammar
