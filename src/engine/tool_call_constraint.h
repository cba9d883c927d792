// Tool calls during generation: the generation loop's hook for constraining Gemma tool calls.
//
// Outside a call the output is free (tool_choice "auto"), never starts a call ("none"), or is
// made of calls, after an optional thought block ("required": a call first, then only more calls
// or <|tool_response>, the stop that hands the calls to the caller). Once <|tool_call> is sampled, a
// GemmaCallMatcher takes over until <tool_call|>: only a declared tool, with arguments valid for
// its parameter schema, can be written. With a token budget, a call is started only if it can
// still close in time, and one that has begun is steered to close before the budget ends (as
// constrained JSON answers are).
//
// The loop calls it around sampling (per sequence; not thread-safe):
//   const std::vector<uint64_t>* m = calls.BeforeSample(tokens_left);  // null: no constraint now
//   int32_t id = sampler.Sample(logits, m ? *m : none);
//   while (!calls.AfterSample(id, tokens_left)) id = sampler.Sample(logits, calls.mask());
// tokens_left counts the token about to be sampled (-1: no budget).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "grammar/gemma_call_grammar.h"
#include "grammar/gemma_call_matcher.h"
#include "grammar/token_vocabulary.h"
#include "tokenizer/tokenizer.h"

namespace g4 {

enum class ToolChoice { kAuto, kNone, kRequired };

struct ToolCallOptions {
  // Declared tools whose calls are constrained; null: calls are generated freely.
  std::shared_ptr<const grammar::GemmaCallGrammar> grammar;
  ToolChoice choice = ToolChoice::kAuto;
  bool allow_thoughts = false;       // kRequired: a thought block may come before the call
  bool starts_in_reasoning = false;  // the prompt ended inside the thought channel
};

class ToolCallConstraint {
 public:
  // `vocab` as the JSON grammar uses it (special tokens marked, stop tokens as end tokens).
  ToolCallConstraint(const ToolCallOptions& options, std::shared_ptr<const grammar::TokenVocabulary> vocab,
                     const Tokenizer& tokenizer);
  ~ToolCallConstraint();

  // True when the options constrain anything (else the hook can be skipped).
  static bool Needed(const ToolCallOptions& options) {
    return options.grammar != nullptr || options.choice != ToolChoice::kAuto;
  }

  // Before sampling: the tokens allowed next, or nullptr when this step is unconstrained.
  const std::vector<uint64_t>* BeforeSample(int tokens_left);
  // After sampling `id`. False: the token is refused (a call could no longer close within the
  // budget); it has been taken out of mask() — sample again from mask().
  bool AfterSample(int32_t id, int tokens_left);
  const std::vector<uint64_t>& mask() const { return mask_; }

  bool in_call() const { return in_call_; }
  int calls_completed() const { return calls_; }

 private:
  void Only(int32_t a, int32_t b = -1);
  void RestrictToCompletion(int tokens_left);
  bool CallFits(int tokens_left);

  ToolCallOptions options_;
  std::shared_ptr<const grammar::TokenVocabulary> vocab_;
  grammar::GemmaCallTokenIds call_ids_{-1, -1};  // <|"|> and <tool_call|>, when constraining
  std::unique_ptr<grammar::GemmaCallMatcher> matcher_;
  std::vector<uint64_t> mask_;
  int32_t call_open_ = -1, channel_open_ = -1, channel_close_ = -1, tool_response_ = -1;
  bool in_call_ = false, in_thought_ = false, any_token_ = false, forced_ = false;
  int calls_ = 0, refusals_ = 0, shortest_call_ = -1;
  bool masked_ = false;  // BeforeSample gave a mask for this step
};

}  // namespace g4
