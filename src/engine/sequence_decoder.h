// One generation's decoding state, advanced a token at a time: logits in, the next token out,
// with the model's stop tokens, user stop strings, an optional JSON-schema constraint (after
// an optional thought block), a token budget, and events streamed through the Gemma output
// parser. It never runs the model itself, so a server can step many of them over one batched
// forward pass; Generator drives one over a single session.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "chat/output_parser.h"
#include "engine/tool_call_constraint.h"
#include "grammar/json_schema.h"
#include "grammar/token_vocabulary.h"
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
  // End the answer once its first tool call is complete (OpenAI parallel_tool_calls: false).
  bool stop_after_first_tool_call = false;
  // Stream the generated text as it is (special tokens included) as content events, without
  // splitting out reasoning and tool calls (/v1/completions).
  bool raw_text = false;
};

struct GenerateResult {
  ParsedOutput parsed;          // reasoning, content, tool calls, parse errors
  std::string raw_text;         // the generated text with special tokens
  std::vector<int32_t> tokens;  // generated ids
  std::vector<SampleResult> logprobs;  // per generated token, with sampling.logprobs
  FinishReason finish = FinishReason::kStop;
  int prompt_tokens = 0;        // evaluated for this request (after prefix reuse)
  int reused_tokens = 0;        // prompt tokens found already in the session's cache
  int completion_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Receives parser events as tokens are generated; return false to stop generating.
using EventCallback = std::function<bool(const OutputEvent&)>;

// What every generation over one tokenizer shares: the stop and forbidden ids and the
// vocabulary the grammar matcher walks (built on first use; thread-safe).
class DecodingVocabulary {
 public:
  explicit DecodingVocabulary(const Tokenizer& tokenizer);

  const Tokenizer& tokenizer() const { return tokenizer_; }
  // Ids that end a turn: <eos>, <turn|> and <|tool_response> where the vocabulary has them.
  const std::vector<int32_t>& stop_tokens() const { return stop_tokens_; }
  bool IsStop(int32_t id) const;
  // Ids never sampled: the multimodal placeholders and delimiters the vocabulary has.
  const std::vector<int32_t>& forbidden_tokens() const { return forbidden_tokens_; }
  int32_t channel_open() const { return channel_open_; }
  int32_t channel_close() const { return channel_close_; }
  std::shared_ptr<const grammar::TokenVocabulary> GrammarVocabulary() const;

 private:
  const Tokenizer& tokenizer_;
  std::vector<int32_t> stop_tokens_;
  std::vector<int32_t> forbidden_tokens_;
  int32_t channel_open_ = -1, channel_close_ = -1;
  mutable std::mutex grammar_mutex_;
  mutable std::shared_ptr<const grammar::TokenVocabulary> grammar_vocab_;
};

class SequenceDecoder {
 public:
  SequenceDecoder(std::shared_ptr<const DecodingVocabulary> vocab, const GenerateOptions& options,
                  EventCallback on_event);
  ~SequenceDecoder();

  // Chooses the token that follows `logits` (the model's output for the last evaluated
  // token). Returns true with *next set when that token must be evaluated and Step called
  // again; false when the generation has ended (finish() says why).
  bool Step(std::span<const float> logits, int32_t* next);
  // Ends the generation from outside: the client went away, or the context is full.
  void Stop(FinishReason reason);

  bool done() const { return done_; }
  FinishReason finish() const { return result_.finish; }
  int completion_tokens() const { return result_.completion_tokens; }
  // Flushes held-back text and the parser (once) and hands over the result.
  GenerateResult TakeResult();

 private:
  enum class Phase { kFree, kMaybeThought, kInThought, kConstrained };
  int32_t ChooseToken(std::span<const float> logits);
  void RestrictToCompletion(int tokens_left, std::vector<uint64_t>& mask) const;
  void Deliver(const std::vector<OutputEvent>& events);
  void Feed(const std::string& text);
  bool PushText(const std::string& text, bool final);
  void End(FinishReason reason);

  std::shared_ptr<const DecodingVocabulary> vocab_;
  GenerateOptions options_;
  EventCallback on_event_;
  Sampler sampler_;
  OutputParser parser_;
  StreamDecoder text_decoder_;
  Phase phase_ = Phase::kFree;
  std::unique_ptr<grammar::GrammarMatcher> matcher_;
  std::unique_ptr<ToolCallConstraint> tool_calls_;
  std::vector<uint64_t> mask_;
  size_t max_stop_ = 0;
  std::string held_;  // decoded text not yet given to the parser (may start a stop string)
  bool keep_going_ = true;
  bool tool_call_done_ = false;
  bool done_ = false;
  bool finalized_ = false;
  GenerateResult result_;
};

}  // namespace g4
