#include "engine/tool_call_constraint.h"

#include <algorithm>
#include <string>

#include "base/error.h"

namespace g4 {

namespace {

int32_t FindId(const Tokenizer& tokenizer, const char* piece) {
  const auto id = tokenizer.Find(piece);
  return id ? *id : -1;
}

bool Has(const std::vector<uint64_t>& mask, int32_t id) { return (mask[id >> 6] >> (id & 63)) & 1; }

}  // namespace

ToolCallConstraint::ToolCallConstraint(const ToolCallOptions& options,
                                       std::shared_ptr<const grammar::TokenVocabulary> vocab,
                                       const Tokenizer& tokenizer)
    : options_(options), vocab_(std::move(vocab)) {
  call_open_ = FindId(tokenizer, "<|tool_call>");
  channel_open_ = FindId(tokenizer, "<|channel>");
  channel_close_ = FindId(tokenizer, "<channel|>");
  tool_response_ = FindId(tokenizer, "<|tool_response>");
  in_thought_ = options.starts_in_reasoning;
  if (call_open_ < 0) {
    // Nothing can start a call: there is nothing to constrain.
    if (options_.choice == ToolChoice::kRequired) Fail("tool_choice \"required\": the vocabulary has no <|tool_call> token");
    options_.grammar = nullptr;
    options_.choice = ToolChoice::kAuto;
    return;
  }
  if (options_.grammar) {
    call_ids_ = {FindId(tokenizer, "<|\"|>"), FindId(tokenizer, "<tool_call|>")};
    if (call_ids_.quote < 0 || call_ids_.call_end < 0) {
      Fail("constrained tool calls need the <|\"|> and <tool_call|> tokens");
    }
    if (options_.grammar->num_tools() > 0) {
      matcher_ = std::make_unique<grammar::GemmaCallMatcher>(options_.grammar, vocab_, call_ids_);
    }
    // No tool to call: no call can be written.
    if (!matcher_ && options_.choice == ToolChoice::kRequired) Fail("tool_choice \"required\" with no tools");
    if (!matcher_) options_.choice = ToolChoice::kNone;
  }
}

ToolCallConstraint::~ToolCallConstraint() = default;

void ToolCallConstraint::Only(int32_t a, int32_t b) {
  mask_.assign(vocab_->mask_words(), 0);
  for (int32_t id : {a, b})
    if (id >= 0) mask_[id >> 6] |= uint64_t{1} << (id & 63);
}

// When the budget is about to run out, only the token spelling the longest piece of the
// completion (or the special token it needs next) stays allowed, so the call closes in time.
void ToolCallConstraint::RestrictToCompletion(int tokens_left) {
  const std::string units = matcher_->CompletionUnits();
  if (tokens_left > static_cast<int>(units.size()) + 1 || units.empty()) return;
  const auto first = static_cast<uint8_t>(units[0]);
  if (first == grammar::kUnitQuote || first == grammar::kUnitCallEnd) {
    const int32_t id = first == grammar::kUnitQuote ? call_ids_.quote : call_ids_.call_end;
    if (Has(mask_, id)) Only(id);
    return;
  }
  const std::string_view run(units.data(), std::min(units.find(static_cast<char>(grammar::kUnitQuote)),
                                                    units.find(static_cast<char>(grammar::kUnitCallEnd))));
  int32_t best = -1;
  size_t best_len = 0;
  for (size_t w = 0; w < mask_.size(); ++w) {
    for (uint64_t bits = mask_[w]; bits != 0; bits &= bits - 1) {
      const int32_t id = static_cast<int32_t>(w * 64 + __builtin_ctzll(bits));
      const std::string& piece = vocab_->bytes(id);
      if (vocab_->is_special(id) || piece.size() <= best_len || run.compare(0, piece.size(), piece) != 0) continue;
      best = id;
      best_len = piece.size();
    }
  }
  if (best >= 0) Only(best);
}

// Whether a call started now can still close within the budget (the <|tool_call> token, then
// at most one token per unit of the shortest call).
bool ToolCallConstraint::CallFits(int tokens_left) {
  if (tokens_left < 0 || !matcher_) return true;
  if (shortest_call_ < 0) {
    matcher_->Reset();
    shortest_call_ = static_cast<int>(matcher_->CompletionUnits().size());
  }
  return shortest_call_ + 1 <= tokens_left;
}

const std::vector<uint64_t>* ToolCallConstraint::BeforeSample(int tokens_left) {
  masked_ = true;
  if (in_call_) {
    matcher_->FillMask(mask_);
    if (tokens_left >= 0) RestrictToCompletion(tokens_left);
    return &mask_;
  }
  refusals_ = 0;
  switch (options_.choice) {
    case ToolChoice::kAuto:
      masked_ = false;
      return nullptr;
    case ToolChoice::kNone:
      mask_.assign(vocab_->mask_words(), ~uint64_t{0});
      mask_[call_open_ >> 6] &= ~(uint64_t{1} << (call_open_ & 63));
      return &mask_;
    case ToolChoice::kRequired:
      if (calls_ > 0) {
        // The answer is the calls: another one, or <|tool_response> (the stop after calls).
        Only(CallFits(tokens_left) ? call_open_ : -1, tool_response_);
        return &mask_;
      }
      if (in_thought_) {
        masked_ = false;
        return nullptr;
      }
      // The call comes first, or after one thought block when thinking is on.
      Only(call_open_, options_.allow_thoughts && !any_token_ ? channel_open_ : -1);
      return &mask_;
  }
  return nullptr;
}

bool ToolCallConstraint::AfterSample(int32_t id, int tokens_left) {
  if (in_call_) {
    G4_CHECK(matcher_->AcceptToken(id), "sampled token ", id, " is not allowed in the tool call");
    if (matcher_->IsTerminated()) {
      in_call_ = false;
      ++calls_;
    } else if (tokens_left >= 0 && !forced_ &&
               static_cast<int>(matcher_->CompletionUnits().size()) > tokens_left - 1) {
      // The call could no longer close within the budget: take another token, and after a few
      // refusals head straight for the end.
      matcher_->Rollback(1);
      mask_[id >> 6] &= ~(uint64_t{1} << (id & 63));
      const bool none_left = std::all_of(mask_.begin(), mask_.end(), [](uint64_t w) { return w == 0; });
      if (++refusals_ > 8 || none_left) {
        matcher_->FillMask(mask_);
        RestrictToCompletion(0);
        forced_ = true;
      }
      return false;
    }
    refusals_ = 0;
    forced_ = false;
    any_token_ = true;
    return true;
  }
  if (id == call_open_ && matcher_ && !CallFits(tokens_left)) {
    // Too late for a call to close: take another token, if there is one.
    if (!masked_) mask_.assign(vocab_->mask_words(), ~uint64_t{0});
    mask_[id >> 6] &= ~(uint64_t{1} << (id & 63));
    masked_ = true;
    if (std::any_of(mask_.begin(), mask_.end(), [](uint64_t w) { return w != 0; })) return false;
  }
  if (id == call_open_ && matcher_) {
    matcher_->Reset();
    in_call_ = true;
    in_thought_ = false;  // a call ends an unclosed thought
  } else if (id == channel_open_) {
    in_thought_ = true;
  } else if (id == channel_close_) {
    in_thought_ = false;
  }
  any_token_ = true;
  return true;
}

}  // namespace g4
