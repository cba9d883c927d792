#include "engine/generator.h"

#include <algorithm>
#include <chrono>

#include "base/error.h"

namespace g4 {

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

Generator::Generator(const Model& model, const Tokenizer& tokenizer, const SessionOptions& session_options)
    : decoder_(model, session_options.n_threads),
      vocab_(std::make_shared<DecodingVocabulary>(tokenizer)),
      sequence_(model.config(), DefaultContext(model.config(), session_options.max_context), kDefaultCheckpoints,
                session_options.kv_type) {
  if (tokenizer.vocab_size() != model.config().vocab_size) {
    Fail("the tokenizer has ", tokenizer.vocab_size(), " tokens but the model's vocabulary has ",
         model.config().vocab_size);
  }
  if (auto id = tokenizer.Find("<|turn>")) turn_start_ = *id;
}

void Generator::Eval(const int32_t* tokens, const uint64_t* keys, int64_t n, std::vector<float>* logits,
                     const float* soft_rows, const uint8_t* bidirectional) {
  const SequenceStep step{&sequence_.cache(), tokens, n, logits, false, soft_rows, bidirectional};
  decoder_.Forward(std::span<const SequenceStep>(&step, 1));
  sequence_.Appended(keys, n);
}

GenerateResult Generator::Generate(const std::vector<int32_t>& prompt, const GenerateOptions& options,
                                   const EventCallback& on_event, const std::atomic<bool>* cancel,
                                   const SoftTokens* soft) {
  if (prompt.empty()) Fail("the prompt has no tokens");
  if (static_cast<int64_t>(prompt.size()) > max_context()) {
    Fail("the prompt has ", prompt.size(), " tokens but the context size is ", max_context());
  }
  const Clock::time_point prefill_start = Clock::now();
  const std::vector<uint64_t> keys = PositionKeys(prompt, soft);
  const SoftLayout layout(prompt, soft);
  const PrefixReuse reuse = sequence_.PrepareFor(keys);
  std::vector<float> logits;
  // Prefill in chunks that pause at turn starts and at the end to take ring checkpoints.
  const std::vector<int64_t> stops = CheckpointPositions(prompt, turn_start_);
  for (int64_t i = reuse.kept; i < static_cast<int64_t>(prompt.size());) {
    int64_t end = std::min<int64_t>(static_cast<int64_t>(prompt.size()), i + kPrefillChunk);
    const auto stop = std::upper_bound(stops.begin(), stops.end(), i);
    if (stop != stops.end()) end = std::min(end, *stop);
    end = layout.PieceEnd(i, end);
    Eval(prompt.data() + i, keys.data() + i, end - i, end == static_cast<int64_t>(prompt.size()) ? &logits : nullptr,
         layout.RowsFrom(i), layout.BidirectionalFrom(i));
    if (stop != stops.end() && end == *stop) sequence_.Checkpoint();
    i = end;
    if (options.prefill_progress) {
      options.prefill_progress(i - reuse.kept, static_cast<int64_t>(prompt.size()) - reuse.kept);
    }
  }
  const double prefill_seconds = SecondsSince(prefill_start);

  const Clock::time_point decode_start = Clock::now();
  SequenceDecoder seq(vocab_, options, on_event);
  int32_t next = -1;
  while (true) {
    if (cancel != nullptr && cancel->load()) {
      seq.Stop(FinishReason::kCancelled);
      break;
    }
    if (!seq.Step(logits, &next)) break;
    if (sequence_.n_tokens() + 1 > max_context()) {
      seq.Stop(FinishReason::kLength);
      break;
    }
    const uint64_t key = TokenKey(next);
    Eval(&next, &key, 1, &logits);
  }
  GenerateResult result = seq.TakeResult();
  result.reused_tokens = static_cast<int>(reuse.kept);
  result.prompt_tokens = static_cast<int>(prompt.size() - reuse.kept);
  result.prefill_seconds = prefill_seconds;
  result.decode_seconds = SecondsSince(decode_start);
  return result;
}

}  // namespace g4
