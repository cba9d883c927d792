// The generation loop: prompt tokens in, sampled tokens out, with the model's stop tokens,
// user stop strings, an optional JSON-schema constraint (applied after the thought channel
// closes), streaming through the Gemma output parser, and cancellation.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chat/output_parser.h"
#include "engine/tool_call_constraint.h"
#include "grammar/json_schema.h"
#include "grammar/token_vocabulary.h"
#include "model/gemma4_text.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace g4 {

namespace grammar {
class GrammarMatcher;
}

enum class FinishReason { kStop, kLength, kToolCalls, kCancelled };
const char* FinishReasonName(FinishReason reason);

struct GenerateOptions {
  SamplingParams sampling;
  // -1: until the context is full. With a grammar, the answer is steered to close its JSON
  // document before the budget runs out.
  int max_tokens = -1;
  std::vector<std::string> stop_strings;  // matched in the visible text (reasoning or content)
  // JSON constraint on the answer (null: none). With `allow_thoughts`, the model may first write a
  // thought block (<|channel>...<channel|>) unconstrained; the constraint starts after it.
  std::shared_ptr<const grammar::JsonSchemaGrammar> grammar;
  bool allow_thoughts = false;
  bool starts_in_reasoning = false;       // the prompt ended inside the thought channel
  bool stream_tool_arguments = true;
  // Tool calls: constrained to the declared tools' parameter schemas when tool_calls.grammar is
  // set; tool_calls.choice forbids or requires a call (see engine/tool_call_constraint.h).
  ToolCallOptions tool_calls;
};

struct GenerateResult {
  ParsedOutput parsed;          // reasoning, content, tool calls, parse errors
  std::string raw_text;         // the generated text with special tokens
  std::vector<int32_t> tokens;  // generated ids
  FinishReason finish = FinishReason::kStop;
  int prompt_tokens = 0;        // evaluated for this request (after prefix reuse)
  int reused_tokens = 0;        // prompt tokens found already in the session's cache
  int completion_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Receives parser events as tokens are generated; return false to stop generating.
using EventCallback = std::function<bool(const OutputEvent&)>;

// Runs generations for one sequence. Keeps the tokens already in the session's cache so a
// prompt that extends them (the next turn of a chat) only evaluates the new part.
class Generator {
 public:
  Generator(const Model& model, const Tokenizer& tokenizer, const SessionOptions& session_options);

  GenerateResult Generate(const std::vector<int32_t>& prompt, const GenerateOptions& options,
                          const EventCallback& on_event, const std::atomic<bool>* cancel = nullptr);

  void Reset();
  Gemma4Session& session() { return session_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  // Ids that end a turn: <eos>, <turn|> and <|tool_response> where the vocabulary has them.
  const std::vector<int32_t>& stop_tokens() const { return stop_tokens_; }
  // Ids never sampled: the multimodal placeholders and delimiters the vocabulary has.
  const std::vector<int32_t>& forbidden_tokens() const { return forbidden_tokens_; }

 private:
  std::shared_ptr<const grammar::TokenVocabulary> GrammarVocabulary();
  void RestrictToCompletion(const grammar::GrammarMatcher& matcher, int tokens_left, std::vector<uint64_t>& mask) const;

  const Model& model_;
  const Tokenizer& tokenizer_;
  Gemma4Session session_;
  std::vector<int32_t> history_;  // tokens in the session's cache, in order
  std::vector<int32_t> stop_tokens_;
  std::vector<int32_t> forbidden_tokens_;
  int32_t channel_open_ = -1, channel_close_ = -1;
  std::shared_ptr<const grammar::TokenVocabulary> grammar_vocab_;
};

}  // namespace g4
