#include "engine/sequence_decoder.h"

#include <algorithm>

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

// Tokens that end a turn (spec/gemma4-io.md §7) and tokens that must never be sampled (the
// multimodal placeholders and delimiters, §2.3), found by name so any vocabulary works.
constexpr const char* kStopPieces[] = {"<eos>", "<turn|>", "<|tool_response>"};
constexpr const char* kForbiddenPieces[] = {"<|image>",  "<|audio>", "<|image|>", "<|audio|>",
                                            "<image|>", "<audio|>", "<|video|>"};

void AddUnique(std::vector<int32_t>& ids, int32_t id) {
  if (id >= 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
}

void Allow(std::vector<uint64_t>& mask, int32_t id) { mask[id >> 6] |= uint64_t{1} << (id & 63); }

}  // namespace

DecodingVocabulary::DecodingVocabulary(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {
  AddUnique(stop_tokens_, tokenizer.eos_id());
  for (const char* piece : kStopPieces) {
    if (auto id = tokenizer.Find(piece)) AddUnique(stop_tokens_, *id);
  }
  for (const char* piece : kForbiddenPieces) {
    if (auto id = tokenizer.Find(piece)) AddUnique(forbidden_tokens_, *id);
  }
  if (auto id = tokenizer.Find("<|channel>")) channel_open_ = *id;
  if (auto id = tokenizer.Find("<channel|>")) channel_close_ = *id;
}

bool DecodingVocabulary::IsStop(int32_t id) const {
  return std::find(stop_tokens_.begin(), stop_tokens_.end(), id) != stop_tokens_.end();
}

std::shared_ptr<const grammar::TokenVocabulary> DecodingVocabulary::GrammarVocabulary() const {
  std::lock_guard<std::mutex> lock(grammar_mutex_);
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

SequenceDecoder::SequenceDecoder(std::shared_ptr<const DecodingVocabulary> vocab, const GenerateOptions& options,
                                 EventCallback on_event)
    : vocab_(std::move(vocab)),
      options_(options),
      on_event_(std::move(on_event)),
      sampler_(options.sampling, vocab_->tokenizer().vocab_size()),
      parser_(OutputParserOptions{options.starts_in_reasoning, options.stream_tool_arguments}),
      text_decoder_(vocab_->tokenizer(), /*keep_special=*/true) {
  sampler_.SetForbiddenTokens(vocab_->forbidden_tokens());
  if (options_.grammar) {
    matcher_ = std::make_unique<grammar::GrammarMatcher>(options_.grammar, vocab_->GrammarVocabulary());
    phase_ = (options_.allow_thoughts && vocab_->channel_open() >= 0) ? Phase::kMaybeThought : Phase::kConstrained;
    if (options_.starts_in_reasoning && vocab_->channel_close() >= 0) phase_ = Phase::kInThought;
  }
  if (ToolCallConstraint::Needed(options_.tool_calls)) {
    ToolCallOptions tc = options_.tool_calls;
    tc.starts_in_reasoning = options_.starts_in_reasoning;
    tool_calls_ = std::make_unique<ToolCallConstraint>(tc, vocab_->GrammarVocabulary(), vocab_->tokenizer());
  }
  for (const std::string& s : options_.stop_strings) max_stop_ = std::max(max_stop_, s.size());
  result_.finish = FinishReason::kLength;
}

SequenceDecoder::~SequenceDecoder() = default;

void SequenceDecoder::Deliver(const std::vector<OutputEvent>& events) {
  for (const OutputEvent& e : events) {
    if (e.type == OutputEventType::kToolCallEnd) tool_call_done_ = true;
    if (on_event_ && !on_event_(e)) keep_going_ = false;
  }
}

void SequenceDecoder::Feed(const std::string& text) {
  if (!options_.raw_text) {
    Deliver(parser_.Feed(text));
  } else if (!text.empty()) {
    OutputEvent e;
    e.type = OutputEventType::kContentDelta;
    e.text = text;
    Deliver({e});
  }
}

// Passes text on, holding back a tail that could still become a stop string. Returns true
// when a stop string was found (the text before it was delivered).
bool SequenceDecoder::PushText(const std::string& text, bool final) {
  held_ += text;
  result_.raw_text += text;
  for (const std::string& stop : options_.stop_strings) {
    if (stop.empty()) continue;
    const size_t at = held_.find(stop);
    if (at != std::string::npos) {
      result_.raw_text.resize(result_.raw_text.size() - (held_.size() - at));
      Feed(held_.substr(0, at));
      held_.clear();
      return true;
    }
  }
  const size_t keep = final || max_stop_ == 0 ? 0 : std::min(held_.size(), max_stop_ - 1);
  if (held_.size() > keep) {
    Feed(held_.substr(0, held_.size() - keep));
    held_.erase(0, held_.size() - keep);
  }
  return false;
}

// When the token budget is about to run out, allow only the token that spells the longest
// piece of the matcher's completion, so a constrained answer ends as a valid document instead
// of being cut off.
void SequenceDecoder::RestrictToCompletion(int tokens_left, std::vector<uint64_t>& mask) const {
  const std::string completion = matcher_->CompletionBytes();
  // One token per byte is the worst case, plus the end token and a token of slack.
  if (tokens_left > static_cast<int>(completion.size()) + 2) return;
  const Tokenizer& tokenizer = vocab_->tokenizer();
  int32_t best = -1;
  size_t best_len = 0;
  for (size_t w = 0; w < mask.size(); ++w) {
    uint64_t bits = mask[w];
    while (bits != 0) {
      const int b = __builtin_ctzll(bits);
      bits &= bits - 1;
      const int32_t id = static_cast<int32_t>(w * 64 + b);
      const bool is_stop = vocab_->IsStop(id);
      if (completion.empty()) {
        if (is_stop && best < 0) best = id;
        continue;
      }
      const std::string& piece = tokenizer.TokenBytes(id);
      if (is_stop || piece.empty() || piece.size() <= best_len) continue;
      if (completion.compare(0, piece.size(), piece) == 0) {
        best = id;
        best_len = piece.size();
      }
    }
  }
  if (best < 0) return;  // nothing spells it: leave the grammar's own mask
  std::fill(mask.begin(), mask.end(), 0);
  Allow(mask, best);
}

// Samples under the constraint of the current phase and advances the grammar.
int32_t SequenceDecoder::ChooseToken(std::span<const float> logits) {
  const int32_t channel_open = vocab_->channel_open();
  const int32_t channel_close = vocab_->channel_close();
  const int vocab_words = (vocab_->tokenizer().vocab_size() + 63) / 64;
  SampleResult sample;
  SampleResult* sample_out = options_.sampling.logprobs ? &sample : nullptr;
  std::span<const uint64_t> allowed;
  if (phase_ == Phase::kInThought && options_.max_tokens >= 0 && channel_close >= 0) {
    // Leave the budget room to close the thoughts and write the smallest valid document.
    const int tokens_left = options_.max_tokens - result_.completion_tokens;
    if (tokens_left <= static_cast<int>(matcher_->CompletionBytes().size()) + 3) {
      mask_.assign(vocab_words, 0);
      Allow(mask_, channel_close);
      allowed = mask_;
    }
  }
  if (phase_ == Phase::kMaybeThought || phase_ == Phase::kConstrained) {
    matcher_->FillMask(mask_);
    if (phase_ == Phase::kMaybeThought) Allow(mask_, channel_open);
    if (options_.max_tokens >= 0 && phase_ == Phase::kConstrained) {
      RestrictToCompletion(options_.max_tokens - result_.completion_tokens, mask_);
    }
    allowed = mask_;
  }
  const int budget_left = options_.max_tokens < 0 ? -1 : options_.max_tokens - result_.completion_tokens;
  if (tool_calls_) {
    // Inside a call its grammar alone decides; elsewhere both constraints apply.
    if (const std::vector<uint64_t>* m = tool_calls_->BeforeSample(budget_left)) {
      if (allowed.empty() || tool_calls_->in_call()) {
        allowed = *m;
      } else {
        for (size_t w = 0; w < mask_.size(); ++w) mask_[w] &= (*m)[w];
        allowed = mask_;
      }
    }
  }
  int32_t id = sampler_.Sample(logits, allowed, sample_out);
  if (tool_calls_) {
    while (!tool_calls_->AfterSample(id, budget_left)) id = sampler_.Sample(logits, tool_calls_->mask(), sample_out);
  }
  if (phase_ == Phase::kMaybeThought && id == channel_open) {
    phase_ = Phase::kInThought;
  } else if (phase_ == Phase::kInThought) {
    if (id == channel_close) phase_ = Phase::kConstrained;
  } else if (phase_ == Phase::kMaybeThought || phase_ == Phase::kConstrained) {
    phase_ = Phase::kConstrained;
    // With a budget, a token after which the document could no longer be closed in time is
    // refused and another one drawn.
    const int tokens_left = options_.max_tokens - result_.completion_tokens - 1;
    bool forced = false;
    for (int attempt = 0;; ++attempt) {
      G4_CHECK(matcher_->AcceptToken(id), "sampled token ", id, " outside the grammar mask");
      if (forced || options_.max_tokens < 0 || matcher_->IsTerminated() ||
          static_cast<int>(matcher_->CompletionBytes().size()) + 1 <= tokens_left) {
        break;
      }
      matcher_->Rollback(1);
      mask_[id >> 6] &= ~(uint64_t{1} << (id & 63));
      const bool none_left = std::all_of(mask_.begin(), mask_.end(), [](uint64_t w) { return w == 0; });
      if (attempt >= 8 || none_left) {
        // The budget cannot be met (or it is too costly to search): head straight for the end.
        matcher_->FillMask(mask_);
        RestrictToCompletion(0, mask_);
        forced = true;
      }
      id = sampler_.Sample(logits, mask_, sample_out);
    }
  }
  if (sample_out != nullptr) result_.logprobs.push_back(sample);
  return id;
}

bool SequenceDecoder::Step(std::span<const float> logits, int32_t* next) {
  if (done_) return false;
  if (options_.max_tokens >= 0 && result_.completion_tokens >= options_.max_tokens) {
    End(FinishReason::kLength);
    return false;
  }
  const int32_t id = ChooseToken(logits);
  const bool grammar_done = phase_ == Phase::kConstrained && matcher_->IsTerminated();
  sampler_.Accept(id);
  result_.tokens.push_back(id);
  ++result_.completion_tokens;
  const bool is_stop = vocab_->IsStop(id);
  // Raw text leaves out the token that ended the turn; the parser needs it to close the turn.
  const std::string text = is_stop && options_.raw_text ? text_decoder_.Flush() : text_decoder_.Push(id);
  if (PushText(text, is_stop) || is_stop || grammar_done ||
      (options_.stop_after_first_tool_call && tool_call_done_)) {
    End(FinishReason::kStop);
    return false;
  }
  if (!keep_going_) {
    End(FinishReason::kCancelled);
    return false;
  }
  *next = id;
  return true;
}

void SequenceDecoder::Stop(FinishReason reason) {
  if (!done_) End(reason);
}

void SequenceDecoder::End(FinishReason reason) {
  done_ = true;
  result_.finish = reason;
}

GenerateResult SequenceDecoder::TakeResult() {
  if (!finalized_) {
    finalized_ = true;
    done_ = true;
    PushText(text_decoder_.Flush(), true);
    if (!held_.empty()) {
      Feed(held_);
      held_.clear();
    }
    Deliver(parser_.Finish());
    result_.parsed = parser_.result();
    if (result_.finish == FinishReason::kStop && !result_.parsed.tool_calls.empty()) {
      result_.finish = FinishReason::kToolCalls;
    }
  }
  return std::move(result_);
}

}  // namespace g4
