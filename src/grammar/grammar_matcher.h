// Runs a compiled JSON schema over generated tokens: which tokens may come next (a bit mask over
// the whole vocabulary), accepting them, completion and rollback.
//
// The matcher is a byte-level pushdown automaton. Its state is a small set of stacks (more than
// one only while anyOf alternatives or number/integer types are still ambiguous); each stack is a
// chain of immutable frames (root, object, array, string, number, literal) in an arena, linked
// by parent index, so advancing one byte copies only the top frame and going back is truncating
// the arena. The token mask walks the vocabulary trie depth-first, advancing a copy of the state
// one byte per edge and skipping a subtree as soon as no stack survives; inside a string the
// vocabulary's per-lexer-state cache answers for all tokens that stay in the string, so only the
// tokens containing a quote are walked.
//
// Usage in a generation loop (one matcher per sequence; not thread-safe, copyable):
//   GrammarMatcher m(grammar, vocab);
//   while (!m.IsTerminated()) { m.FillMask(mask); id = sampler.Sample(logits, mask); m.AcceptToken(id); }
// With thinking on, don't constrain the thought channel: create (or start using) the matcher
// only after `<channel|>` has been generated, and feed it nothing before. Text generated between
// the channel close and the JSON (if the caller allows any) must not be fed either; the matcher
// itself allows at most `max_whitespace` leading whitespace bytes.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "grammar/json_schema.h"
#include "grammar/number_lexer.h"
#include "grammar/token_vocabulary.h"

namespace g4::grammar {

class GrammarMatcher {
 public:
  GrammarMatcher(std::shared_ptr<const JsonSchemaGrammar> grammar, std::shared_ptr<const TokenVocabulary> vocab,
                 int max_rollback_tokens = 128);

  // Advances by one token; false (state unchanged) if the token is not allowed here. An end
  // token is allowed only when IsComplete(); it terminates the matcher.
  bool AcceptToken(int32_t token);
  // Advances by raw bytes (all or nothing); counts as one step for Rollback.
  bool AcceptBytes(std::string_view bytes);

  // The text so far is a complete document (an end token may come now).
  bool IsComplete() const;
  // An end token has been accepted.
  bool IsTerminated() const { return terminated_; }

  // mask gets vocab.mask_words() words; bit (id & 63) of word (id >> 6) is set when token id
  // may come next. Never empty before termination: some token can always continue or end.
  void FillMask(std::vector<uint64_t>& mask) const;
  bool IsTokenAllowed(int32_t token) const;

  // Undoes the last `num_tokens` AcceptToken/AcceptBytes calls (at most max_rollback_tokens are
  // remembered). Returns false (and does nothing) if fewer are remembered.
  bool Rollback(int num_tokens);
  int rollback_available() const { return static_cast<int>(history_.size()); }
  void Reset();

  // Bytes that complete the document from here (empty when IsComplete()); a short completion,
  // not necessarily the shortest. For tests, and for closing a document that ran out of budget.
  std::string CompletionBytes() const;

  const JsonSchemaGrammar& grammar() const { return *grammar_; }
  const TokenVocabulary& vocab() const { return *vocab_; }

 private:
  struct Frame {
    int32_t parent = -1;
    uint32_t node = 0;
    uint32_t a = 0;      // object: keys so far; array: items so far; string: characters;
                         // number: digits in the current part; literal: trie node
    uint32_t b = 0;      // object: key trie node while in a key, then the property being filled
    uint64_t bits = 0;   // object: properties seen or unusable; number: integer magnitude
    uint8_t kind = 0, phase = 0, sub = 0, ws = 0;
    uint8_t depth = 0, negative = 0, pad0 = 0, pad1 = 0;
  };
  struct Snapshot {
    size_t arena_size;
    std::vector<int32_t> tops;
    bool terminated;
  };
  struct Level {
    size_t set_begin, set_end, arena_size;
  };

  // Appends the stacks that result from feeding `byte` to stack `top` to `out`.
  void Step(int32_t top, uint8_t byte, std::vector<int32_t>& out) const;
  void StepObject(Frame f, uint8_t c, std::vector<int32_t>& out) const;
  void StepArray(Frame f, uint8_t c, std::vector<int32_t>& out) const;
  void StepNumber(Frame f, uint8_t c, std::vector<int32_t>& out) const;
  void StartValue(int32_t parent, uint32_t node, int parent_depth, uint8_t c, std::vector<int32_t>& out) const;
  int32_t Push(const Frame& f) const;
  bool Advance(const std::vector<int32_t>& from, std::string_view bytes, std::vector<int32_t>& to) const;

  bool CanEnd(int32_t top) const;
  static NumberLex LexOf(const Frame& f);
  bool NumberAccepting(const Frame& f) const;
  bool KeyPossible(const Frame& f) const;
  bool AdditionalFits(const Frame& f) const;
  bool CanCloseObject(const Frame& f) const;
  int64_t ItemNode(const Frame& f) const;
  bool ItemPossible(const Frame& f) const;
  bool Fits(int depth, uint32_t node) const;
  void Dedup(std::vector<int32_t>& tops) const;
  bool SameStack(int32_t x, int32_t y) const;

  // Mask helpers (grammar_mask.cc).
  void WalkTrie(const TokenTrie& trie, const std::vector<int32_t>& start, uint32_t min_cp, uint32_t max_cp,
                uint32_t chars_so_far, std::vector<uint64_t>& mask) const;
  std::string NextCompletionBytes(int32_t top) const;

  std::shared_ptr<const JsonSchemaGrammar> grammar_;
  std::shared_ptr<const TokenVocabulary> vocab_;
  int max_rollback_;
  mutable std::vector<Frame> arena_;  // committed frames, then scratch space of const methods
  std::vector<int32_t> tops_;
  bool terminated_ = false;
  std::deque<Snapshot> history_;
  mutable std::vector<int32_t> set_buf_;
  mutable std::vector<Level> levels_;
};

}  // namespace g4::grammar
