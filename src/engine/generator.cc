#include "engine/generator.h"

#include <algorithm>
#include <chrono>

#include "base/error.h"
#include "grammar/grammar_matcher.h"

namespace g4 {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kToolCalls:
      return "tool_calls";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "stop";
}

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Tokens that end a turn (spec/gemma4-io.md §7) and tokens that must never be sampled (the
// multimodal placeholders and delimiters, §2.3), found by name so any vocabulary works.
constexpr const char* kStopPieces[] = {"<eos>", "<turn|>", "<|tool_response>"};
constexpr const char* kForbiddenPieces[] = {"<|image>",  "<|audio>", "<|image|>", "<|audio|>",
                                            "<image|>", "<audio|>", "<|video|>"};

// Prefill in pieces so activation buffers stay small for long prompts.
constexpr int64_t kPrefillChunk = 512;

}  // namespace

Generator::Generator(const Model& model, const Tokenizer& tokenizer, const SessionOptions& session_options)
    : model_(model), tokenizer_(tokenizer), session_(model, session_options) {
  auto add_unique = [](std::vector<int32_t>& v, int32_t id) {
    if (id >= 0 && std::find(v.begin(), v.end(), id) == v.end()) v.push_back(id);
  };
  add_unique(stop_tokens_, tokenizer.eos_id());
  for (const char* piece : kStopPieces) {
    if (auto id = tokenizer.Find(piece)) add_unique(stop_tokens_, *id);
  }
  for (const char* piece : kForbiddenPieces) {
    if (auto id = tokenizer.Find(piece)) add_unique(forbidden_tokens_, *id);
  }
  if (auto id = tokenizer.Find("<|channel>")) channel_open_ = *id;
  if (auto id = tokenizer.Find("<channel|>")) channel_close_ = *id;
  if (tokenizer.vocab_size() != model.config().vocab_size) {
    Fail("the tokenizer has ", tokenizer.vocab_size(), " tokens but the model's vocabulary has ",
         model.config().vocab_size);
  }
}

void Generator::Reset() {
  session_.Reset();
  history_.clear();
}

std::shared_ptr<const grammar::TokenVocabulary> Generator::GrammarVocabulary() {
  if (grammar_vocab_) return grammar_vocab_;
  const int n = tokenizer_.vocab_size();
  std::vector<std::string> bytes(n);
  std::vector<bool> special(n);
  for (int i = 0; i < n; ++i) {
    bytes[i] = tokenizer_.TokenBytes(i);
    const TokenKind kind = tokenizer_.kind(i);
    // Control and user-defined tokens (<|"|>, <|tool_call>, ...) are markup, never JSON text.
    // <unusedN> slots are typed NORMAL in GGUF (as llama.cpp's converter writes them) but are
    // placeholders no answer should contain.
    const std::string& piece = tokenizer_.Piece(i);
    const bool unused_slot = piece.rfind("<unused", 0) == 0 && piece.back() == '>';
    special[i] = kind == TokenKind::kControl || kind == TokenKind::kUserDefined || kind == TokenKind::kUnknown ||
                 kind == TokenKind::kUnused || unused_slot;
  }
  grammar_vocab_ = std::make_shared<grammar::TokenVocabulary>(std::move(bytes), special, stop_tokens_);
  return grammar_vocab_;
}

// When the token budget is about to run out, allow only the token that spells the longest
// piece of the matcher's completion, so a constrained answer ends as a valid document instead
// of being cut off.
void Generator::RestrictToCompletion(const grammar::GrammarMatcher& matcher, int tokens_left,
                                     std::vector<uint64_t>& mask) const {
  const std::string completion = matcher.CompletionBytes();
  // One token per byte is the worst case, plus the end token and a token of slack.
  if (tokens_left > static_cast<int>(completion.size()) + 2) return;
  int32_t best = -1;
  size_t best_len = 0;
  for (size_t w = 0; w < mask.size(); ++w) {
    uint64_t bits = mask[w];
    while (bits != 0) {
      const int b = __builtin_ctzll(bits);
      bits &= bits - 1;
      const int32_t id = static_cast<int32_t>(w * 64 + b);
      const bool is_stop = std::find(stop_tokens_.begin(), stop_tokens_.end(), id) != stop_tokens_.end();
      if (completion.empty()) {
        if (is_stop && best < 0) best = id;
        continue;
      }
      const std::string& piece = tokenizer_.TokenBytes(id);
      if (is_stop || piece.empty() || piece.size() <= best_len) continue;
      if (completion.compare(0, piece.size(), piece) == 0) {
        best = id;
        best_len = piece.size();
      }
    }
  }
  if (best < 0) return;  // nothing spells it: leave the grammar's own mask
  std::fill(mask.begin(), mask.end(), 0);
  mask[best >> 6] |= uint64_t{1} << (best & 63);
}

GenerateResult Generator::Generate(const std::vector<int32_t>& prompt, const GenerateOptions& options,
                                   const EventCallback& on_event, const std::atomic<bool>* cancel) {
  if (prompt.empty()) Fail("the prompt has no tokens");
  GenerateResult result;
  const Clock::time_point prefill_start = Clock::now();

  // Reuse the cached prefix when the prompt extends what the session holds.
  size_t common = 0;
  while (common < history_.size() && common < prompt.size() && history_[common] == prompt[common]) ++common;
  if (common < history_.size() || common == prompt.size()) {
    Reset();
    common = 0;
  }
  if (static_cast<int64_t>(prompt.size()) > session_.max_context()) {
    Fail("the prompt has ", prompt.size(), " tokens but the context size is ", session_.max_context());
  }
  result.reused_tokens = static_cast<int>(common);
  result.prompt_tokens = static_cast<int>(prompt.size() - common);
  std::vector<float> logits;
  for (size_t i = common; i < prompt.size(); i += kPrefillChunk) {
    const size_t end = std::min(prompt.size(), i + kPrefillChunk);
    std::vector<int32_t> piece(prompt.begin() + i, prompt.begin() + end);
    session_.Eval(piece.data(), static_cast<int64_t>(piece.size()), false, end == prompt.size() ? &logits : nullptr);
    history_.insert(history_.end(), piece.begin(), piece.end());
  }
  result.prefill_seconds = SecondsSince(prefill_start);

  Sampler sampler(options.sampling, tokenizer_.vocab_size());
  sampler.SetForbiddenTokens(forbidden_tokens_);
  OutputParserOptions parser_options;
  parser_options.starts_in_reasoning = options.starts_in_reasoning;
  parser_options.stream_tool_arguments = options.stream_tool_arguments;
  OutputParser parser(parser_options);
  StreamDecoder decoder(tokenizer_, /*keep_special=*/true);

  // Constraint state: free text inside a thought block, the JSON grammar after it.
  enum class Phase { kFree, kMaybeThought, kInThought, kConstrained };
  Phase phase = Phase::kFree;
  std::unique_ptr<grammar::GrammarMatcher> matcher;
  if (options.grammar) {
    matcher = std::make_unique<grammar::GrammarMatcher>(options.grammar, GrammarVocabulary());
    phase = (options.allow_thoughts && channel_open_ >= 0) ? Phase::kMaybeThought : Phase::kConstrained;
    if (options.starts_in_reasoning && channel_close_ >= 0) phase = Phase::kInThought;
  }
  std::vector<uint64_t> mask;
  std::unique_ptr<ToolCallConstraint> tool_calls;
  if (ToolCallConstraint::Needed(options.tool_calls)) {
    ToolCallOptions tc = options.tool_calls;
    tc.starts_in_reasoning = options.starts_in_reasoning;
    tool_calls = std::make_unique<ToolCallConstraint>(tc, GrammarVocabulary(), tokenizer_);
  }

  size_t max_stop = 0;
  for (const std::string& s : options.stop_strings) max_stop = std::max(max_stop, s.size());
  std::string held;  // decoded text not yet given to the parser (may start a stop string)
  bool keep_going = true;
  auto deliver = [&](const std::vector<OutputEvent>& events) {
    for (const OutputEvent& e : events) {
      if (on_event && !on_event(e)) keep_going = false;
    }
  };
  // Passes text on, holding back a tail that could still become a stop string. Returns true
  // when a stop string was found (the text before it was delivered).
  auto push_text = [&](const std::string& text, bool final) -> bool {
    held += text;
    result.raw_text += text;
    for (const std::string& stop : options.stop_strings) {
      if (stop.empty()) continue;
      const size_t at = held.find(stop);
      if (at != std::string::npos) {
        result.raw_text.resize(result.raw_text.size() - (held.size() - at));
        deliver(parser.Feed(held.substr(0, at)));
        held.clear();
        return true;
      }
    }
    const size_t keep = final || max_stop == 0 ? 0 : std::min(held.size(), max_stop - 1);
    if (held.size() > keep) {
      deliver(parser.Feed(std::string_view(held).substr(0, held.size() - keep)));
      held.erase(0, held.size() - keep);
    }
    return false;
  };

  const Clock::time_point decode_start = Clock::now();
  result.finish = FinishReason::kLength;
  while (true) {
    if (cancel != nullptr && cancel->load()) {
      result.finish = FinishReason::kCancelled;
      break;
    }
    if (options.max_tokens >= 0 && result.completion_tokens >= options.max_tokens) {
      result.finish = FinishReason::kLength;
      break;
    }
    std::span<const uint64_t> allowed;
    if (phase == Phase::kInThought && options.max_tokens >= 0 && channel_close_ >= 0) {
      // Leave the budget room to close the thoughts and write the smallest valid document.
      const int tokens_left = options.max_tokens - result.completion_tokens;
      if (tokens_left <= static_cast<int>(matcher->CompletionBytes().size()) + 3) {
        mask.assign((tokenizer_.vocab_size() + 63) / 64, 0);
        mask[channel_close_ >> 6] |= uint64_t{1} << (channel_close_ & 63);
        allowed = mask;
      }
    }
    if (phase == Phase::kMaybeThought || phase == Phase::kConstrained) {
      matcher->FillMask(mask);
      if (phase == Phase::kMaybeThought) mask[channel_open_ >> 6] |= uint64_t{1} << (channel_open_ & 63);
      if (options.max_tokens >= 0 && phase == Phase::kConstrained) {
        RestrictToCompletion(*matcher, options.max_tokens - result.completion_tokens, mask);
      }
      allowed = mask;
    }
    const int budget_left = options.max_tokens < 0 ? -1 : options.max_tokens - result.completion_tokens;
    if (tool_calls) {
      // Inside a call its grammar alone decides; elsewhere both constraints apply.
      if (const std::vector<uint64_t>* m = tool_calls->BeforeSample(budget_left)) {
        if (allowed.empty() || tool_calls->in_call()) {
          allowed = *m;
        } else {
          for (size_t w = 0; w < mask.size(); ++w) mask[w] &= (*m)[w];
          allowed = mask;
        }
      }
    }
    int32_t id = sampler.Sample(logits, allowed);
    if (tool_calls) {
      while (!tool_calls->AfterSample(id, budget_left)) id = sampler.Sample(logits, tool_calls->mask());
    }
    bool grammar_done = false;
    if (phase == Phase::kMaybeThought && id == channel_open_) {
      phase = Phase::kInThought;
    } else if (phase == Phase::kInThought) {
      if (id == channel_close_) phase = Phase::kConstrained;
    } else if (phase == Phase::kMaybeThought || phase == Phase::kConstrained) {
      phase = Phase::kConstrained;
      // With a budget, a token after which the document could no longer be closed in time is
      // refused and another one drawn.
      const int tokens_left = options.max_tokens - result.completion_tokens - 1;
      bool forced = false;
      for (int attempt = 0;; ++attempt) {
        G4_CHECK(matcher->AcceptToken(id), "sampled token ", id, " outside the grammar mask");
        if (forced || options.max_tokens < 0 || matcher->IsTerminated() ||
            static_cast<int>(matcher->CompletionBytes().size()) + 1 <= tokens_left) {
          break;
        }
        matcher->Rollback(1);
        mask[id >> 6] &= ~(uint64_t{1} << (id & 63));
        const bool none_left = std::all_of(mask.begin(), mask.end(), [](uint64_t w) { return w == 0; });
        if (attempt >= 8 || none_left) {
          // The budget cannot be met (or it is too costly to search): head straight for the end.
          matcher->FillMask(mask);
          RestrictToCompletion(*matcher, 0, mask);
          forced = true;
        }
        id = sampler.Sample(logits, mask);
      }
      grammar_done = matcher->IsTerminated();
    }
    sampler.Accept(id);
    result.tokens.push_back(id);
    ++result.completion_tokens;

    const bool is_stop = std::find(stop_tokens_.begin(), stop_tokens_.end(), id) != stop_tokens_.end();
    if (push_text(decoder.Push(id), is_stop)) {
      result.finish = FinishReason::kStop;
      break;
    }
    if (is_stop || grammar_done) {
      result.finish = FinishReason::kStop;
      break;
    }
    if (!keep_going) {
      result.finish = FinishReason::kCancelled;
      break;
    }
    if (session_.n_past() + 1 > session_.max_context()) {
      result.finish = FinishReason::kLength;
      break;
    }
    session_.Eval(&id, 1, false, &logits);
    history_.push_back(id);
  }
  push_text(decoder.Flush(), true);
  if (!held.empty()) {
    deliver(parser.Feed(held));
    held.clear();
  }
  deliver(parser.Finish());
  result.parsed = parser.result();
  result.decode_seconds = SecondsSince(decode_start);
  if (result.finish == FinishReason::kStop && !result.parsed.tool_calls.empty()) {
    result.finish = FinishReason::kToolCalls;
  }
  return result;
}

}  // namespace g4
