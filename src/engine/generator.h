// The generation loop for one sequence: prompt tokens in, sampled tokens out (see
// SequenceDecoder for what each step does), with cancellation and prefix reuse.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "engine/cached_sequence.h"
#include "engine/sequence_decoder.h"
#include "model/gemma4_text.h"

namespace g4 {

// Runs generations for one sequence. Keeps what is already in the sequence's cache so a prompt
// that shares a prefix with it (the next turn of a chat) evaluates only the rest.
class Generator {
 public:
  Generator(const Model& model, const Tokenizer& tokenizer, const SessionOptions& session_options);

  // `soft`: the embeddings of the prompt's kSoftToken positions, in order (null: none).
  GenerateResult Generate(const std::vector<int32_t>& prompt, const GenerateOptions& options,
                          const EventCallback& on_event, const std::atomic<bool>* cancel = nullptr,
                          const SoftTokens* soft = nullptr);

  void Reset() { sequence_.Clear(); }
  const Tokenizer& tokenizer() const { return vocab_->tokenizer(); }
  const DecodingVocabulary& vocabulary() const { return *vocab_; }
  const std::vector<int32_t>& stop_tokens() const { return vocab_->stop_tokens(); }
  const std::vector<int32_t>& forbidden_tokens() const { return vocab_->forbidden_tokens(); }
  int max_context() const { return sequence_.cache().max_context(); }
  CachedSequence& sequence() { return sequence_; }

 private:
  // Evaluates tokens into the sequence's cache; logits of the last one when asked.
  void Eval(const int32_t* tokens, const uint64_t* keys, int64_t n, std::vector<float>* logits,
            const float* soft_rows = nullptr, const uint8_t* bidirectional = nullptr);

  Gemma4Decoder decoder_;
  std::shared_ptr<const DecodingVocabulary> vocab_;
  CachedSequence sequence_;
  int32_t turn_start_ = -1;
};

}  // namespace g4
