// Runs a GemmaCallGrammar over the tokens of one tool call: which tokens may come next (a bit
// mask over the whole vocabulary), accepting them, completion and rollback.
//
// The matcher starts right after the <|tool_call> token and ends when <tool_call|> is accepted.
// Like GrammarMatcher it is a byte-level pushdown automaton over a set of stacks of immutable
// frames in an arena (several stacks only while anyOf alternatives are ambiguous), with one
// extra input symbol for the <|"|> token. The mask treats the two special tokens the syntax
// needs on their own: <|"|> is allowed exactly where a string (or a quoted key) opens or may
// close, <tool_call|> exactly after the arguments' closing brace; every other special token
// (<turn|>, <|tool_response>, <eos>, <|channel>, ...) is never allowed inside a call. Inside a
// string the vocabulary's per-lexer-state cache (StringMode::kGemma) answers for all ordinary
// tokens at once; elsewhere the vocabulary trie is walked, skipping dead subtrees.
//
// Usage (one matcher per call; not thread-safe):
//   after sampling <|tool_call>: GemmaCallMatcher m(grammar, vocab, ids);
//   while (!m.IsTerminated()) { m.FillMask(mask); id = Sample(logits, mask); m.AcceptToken(id); }
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "grammar/gemma_call_grammar.h"
#include "grammar/number_lexer.h"
#include "grammar/token_vocabulary.h"

namespace g4::grammar {

struct GemmaCallTokenIds {
  int32_t quote = -1;     // <|"|>
  int32_t call_end = -1;  // <tool_call|>
};

class GemmaCallMatcher {
 public:
  GemmaCallMatcher(std::shared_ptr<const GemmaCallGrammar> grammar, std::shared_ptr<const TokenVocabulary> vocab,
                   GemmaCallTokenIds ids, int max_rollback_tokens = 128);

  // Advances by one token; false (state unchanged) if it is not allowed here.
  bool AcceptToken(int32_t token);
  // Advances by units (bytes, kUnitQuote, kUnitCallEnd), all or nothing; one step for Rollback.
  bool AcceptUnits(std::string_view units);
  // <tool_call|> has been accepted.
  bool IsTerminated() const { return terminated_; }
  // The index of the tool being called, once its name is complete (else -1).
  int tool() const;

  // mask gets vocab.mask_words() words; never empty before termination.
  void FillMask(std::vector<uint64_t>& mask) const;
  bool IsTokenAllowed(int32_t token) const;

  bool Rollback(int num_tokens);
  void Reset();

  // Units that complete the call from here, ending with kUnitCallEnd (empty once terminated).
  std::string CompletionUnits() const;

 private:
  struct Frame {
    int32_t parent = -1;
    uint32_t node = 0;
    uint32_t a = 0;     // header: name-trie node; object: keys so far; array: items so far;
                        // string: characters; number: digits in this part; literal: trie node
    uint32_t b = 0;     // object: key-trie node while in a key, then the property being filled
    uint64_t bits = 0;  // object: properties used or unusable; number: integer magnitude
    uint16_t tool = 0;
    uint8_t kind = 0, phase = 0, sub = 0;  // sub: string lexer state; object key flags
    uint8_t depth = 0, negative = 0, key_len = 0;
  };
  struct Saved {
    size_t arena_size;
    std::vector<int32_t> tops;
    bool terminated;
  };

  void Step(int32_t top, int sym, std::vector<int32_t>& out) const;
  void StepObject(Frame f, int sym, std::vector<int32_t>& out) const;
  void StepKey(Frame f, int sym, std::vector<int32_t>& out) const;
  void StepArray(Frame f, int sym, std::vector<int32_t>& out) const;
  void StepNumber(Frame f, int sym, std::vector<int32_t>& out) const;
  void StartValue(int32_t parent, uint16_t tool, uint32_t node, int depth, int sym, std::vector<int32_t>& out) const;
  int32_t Push(const Frame& f) const;
  bool Feed(std::vector<int32_t>& stacks, int sym) const;  // false: no stack survives
  void Commit(std::vector<int32_t> next, size_t mark);
  void Prune(std::vector<int32_t>& tops) const;
  bool Equal(int32_t x, int32_t y) const;

  const JsonSchemaGrammar& Schema(const Frame& f) const { return *grammar_->tool(f.tool).schema; }
  const GemmaCallGrammar::NodeSpelling& Spelling(const Frame& f) const { return grammar_->tool(f.tool).nodes[f.node]; }
  bool Fits(const Frame& f, int depth, uint32_t node) const;
  bool UnlistedFits(const Frame& f) const;
  bool CanAddKey(const Frame& f) const;
  bool CanClose(const Frame& f) const;
  int64_t ItemNode(const Frame& f) const;
  bool CanAddItem(const Frame& f) const;
  static NumberLex LexOf(const Frame& f);
  bool NumberDone(const Frame& f) const;
  std::string NextUnits(int32_t top) const;
  void WalkVocabulary(const std::vector<int32_t>& start, std::vector<uint64_t>& mask) const;

  std::shared_ptr<const GemmaCallGrammar> grammar_;
  std::shared_ptr<const TokenVocabulary> vocab_;
  GemmaCallTokenIds ids_;
  int max_rollback_;
  mutable std::vector<Frame> arena_;
  std::vector<int32_t> tops_;
  bool terminated_ = false;
  std::deque<Saved> saved_;
};

}  // namespace g4::grammar
