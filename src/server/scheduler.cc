#include "server/scheduler.h"

#include <algorithm>
#include <chrono>

#include "base/error.h"

namespace g4 {

namespace {
using Clock = std::chrono::steady_clock;
double SecondsBetween(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
}  // namespace

struct BatchScheduler::Slot {
  Slot(const ModelConfig& config, int context, int checkpoints, DType kv_type)
      : seq(config, context, checkpoints, kv_type) {}
  CachedSequence seq;
  std::shared_ptr<ScheduledRequest> request;  // null while idle
  std::unique_ptr<SequenceDecoder> decoder;
  std::vector<int64_t> stops;  // where the prompt's prefill pauses for checkpoints
  SoftLayout layout;           // the prompt's soft positions
  int64_t reused = 0;          // prompt tokens found in the cache
  bool decoding = false;
  int32_t next = -1;           // the token to evaluate next while decoding
  std::vector<float> logits;
  uint64_t last_used = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

BatchScheduler::BatchScheduler(const Model& model, const Tokenizer& tokenizer, const SchedulerOptions& options)
    : model_(model),
      options_(options),
      vocab_(std::make_shared<DecodingVocabulary>(tokenizer)),
      decoder_(model, options.n_threads) {
  if (options_.parallel < 1) Fail("--parallel must be at least 1, not ", options_.parallel);
  if (options_.batch_tokens < options_.parallel) options_.batch_tokens = options_.parallel;
  options_.context = DefaultContext(model.config(), options_.context);
  if (tokenizer.vocab_size() != model.config().vocab_size) {
    Fail("the tokenizer has ", tokenizer.vocab_size(), " tokens but the model's vocabulary has ",
         model.config().vocab_size);
  }
  if (auto id = tokenizer.Find("<|turn>")) turn_start_ = *id;
  for (int i = 0; i < options_.parallel; ++i) {
    slots_.push_back(std::make_unique<Slot>(model.config(), options_.context, options_.checkpoints, options_.kv_type));
  }
  stats_.slots = options_.parallel;
  thread_ = std::thread([this] { Loop(); });
}

BatchScheduler::~BatchScheduler() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool BatchScheduler::Submit(std::shared_ptr<ScheduledRequest> request) {
  if (request->prompt.empty()) Fail("the prompt has no tokens");
  if (static_cast<int64_t>(request->prompt.size()) > options_.context) {
    Fail("the prompt has ", request->prompt.size(), " tokens but the context size is ", options_.context);
  }
  if (request->soft.count() > 0 && request->soft.width != model_.config().d_model) {
    Fail("soft tokens of width ", request->soft.width, " for a model of width ", model_.config().d_model);
  }
  request->position_keys = PositionKeys(request->prompt, &request->soft);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const int busy = stats_.active + static_cast<int>(queue_.size());
    if (busy >= options_.parallel + options_.max_queue) {
      ++stats_.rejected;
      return false;
    }
    queue_.push_back(std::move(request));
    ++stats_.requests;
    stats_.queued = static_cast<int>(queue_.size());
  }
  wake_.notify_all();
  return true;
}

SchedulerStats BatchScheduler::Stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void BatchScheduler::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty() || stats_.active > 0; });
      if (stop_) break;
      Admit(lock);
    }
    RunOneStep();
  }
  // Shutting down: whoever waits gets an answer.
  for (auto& slot : slots_) {
    if (slot->request) {
      slot->decoder->Stop(FinishReason::kCancelled);
      Finish(*slot);
    }
  }
  for (auto& request : queue_) request->on_done(GenerateResult{}, "the server is shutting down");
  queue_.clear();
}

// Moves queued requests into idle slots: the slot whose cache holds the longest usable
// prefix of the prompt, else the one unused for longest.
void BatchScheduler::Admit(std::unique_lock<std::mutex>&) {
  while (!queue_.empty()) {
    Slot* best = nullptr;
    int64_t best_prefix = -1;
    std::shared_ptr<ScheduledRequest> request = queue_.front();
    for (auto& slot : slots_) {
      if (slot->request) continue;
      const int64_t prefix = slot->seq.ReusablePrefix(request->position_keys);
      if (prefix > best_prefix || (prefix == best_prefix && slot->last_used < best->last_used)) {
        best = slot.get();
        best_prefix = prefix;
      }
    }
    if (best == nullptr) break;
    queue_.pop_front();
    Slot& slot = *best;
    slot.request = std::move(request);
    slot.reused = slot.seq.PrepareFor(slot.request->position_keys).kept;
    slot.layout = SoftLayout(slot.request->prompt, &slot.request->soft);
    slot.stops = CheckpointPositions(slot.request->prompt, turn_start_);
    slot.decoding = false;
    slot.prefill_seconds = slot.decode_seconds = 0;
    slot.last_used = ++clock_;
    try {
      slot.decoder = std::make_unique<SequenceDecoder>(vocab_, slot.request->options, slot.request->on_event);
    } catch (const std::exception& e) {
      slot.request->on_done(GenerateResult{}, e.what());
      slot.request = nullptr;
      continue;
    }
    ++stats_.active;
    stats_.reused_tokens += slot.reused;
  }
  stats_.queued = static_cast<int>(queue_.size());
}

// One forward pass over every active slot. Returns false when there was nothing to do.
bool BatchScheduler::RunOneStep() {
  for (auto& slot : slots_) {
    if (slot->request && slot->request->cancelled.load()) {
      slot->decoder->Stop(FinishReason::kCancelled);
      Finish(*slot);
    }
  }
  struct Planned {
    Slot* slot;
    int64_t n;
  };
  std::vector<SequenceStep> steps;
  std::vector<Planned> planned;
  int64_t budget = options_.batch_tokens;
  int64_t decode_tokens = 0;
  for (auto& slot : slots_) {
    if (!slot->request || !slot->decoding) continue;
    steps.push_back({&slot->seq.cache(), &slot->next, 1, &slot->logits, false});
    planned.push_back({slot.get(), 1});
    --budget;
    ++decode_tokens;
  }
  // Prompts in admission order, each up to its next checkpoint position.
  std::vector<Slot*> prefilling;
  for (auto& slot : slots_) {
    if (slot->request && !slot->decoding) prefilling.push_back(slot.get());
  }
  std::sort(prefilling.begin(), prefilling.end(), [](Slot* a, Slot* b) { return a->last_used < b->last_used; });
  for (Slot* slot : prefilling) {
    if (budget <= 0) break;
    const std::vector<int32_t>& prompt = slot->request->prompt;
    const int64_t done = slot->seq.n_tokens();
    const auto stop = std::upper_bound(slot->stops.begin(), slot->stops.end(), done);
    int64_t end = std::min<int64_t>({static_cast<int64_t>(prompt.size()), done + budget,
                                           stop != slot->stops.end() ? *stop : static_cast<int64_t>(prompt.size())});
    end = slot->layout.PieceEnd(done, end);
    const bool last = end == static_cast<int64_t>(prompt.size());
    steps.push_back({&slot->seq.cache(), prompt.data() + done, end - done, last ? &slot->logits : nullptr, false,
                     slot->layout.RowsFrom(done), slot->layout.BidirectionalFrom(done)});
    planned.push_back({slot, end - done});
    budget -= end - done;
  }
  if (steps.empty()) return false;

  const Clock::time_point start = Clock::now();
  try {
    decoder_.Forward(steps);
  } catch (const std::exception& e) {
    // Nothing was committed to any cache; every sequence in the pass fails with the reason.
    for (const Planned& p : planned) {
      p.slot->seq.Clear();
      GenerateResult result = p.slot->decoder->TakeResult();
      auto request = std::move(p.slot->request);
      p.slot->request = nullptr;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        --stats_.active;
      }
      request->on_done(std::move(result), e.what());
    }
    return true;
  }
  const double seconds = SecondsBetween(start, Clock::now());
  int64_t total_tokens = 0;
  for (const Planned& p : planned) total_tokens += p.n;
  const double decode_share = static_cast<double>(decode_tokens) / static_cast<double>(total_tokens);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.prompt_tokens += total_tokens - decode_tokens;
    stats_.generated_tokens += decode_tokens;
    stats_.decode_seconds += seconds * decode_share;
    stats_.prefill_seconds += seconds * (1 - decode_share);
  }

  for (size_t i = 0; i < planned.size(); ++i) {
    Slot& slot = *planned[i].slot;
    if (slot.decoding) {
      const uint64_t key = TokenKey(slot.next);
      slot.seq.Appended(&key, 1);
    } else {
      slot.seq.Appended(slot.request->position_keys.data() + slot.seq.position_keys().size(), planned[i].n);
    }
    const double share = seconds * static_cast<double>(planned[i].n) / static_cast<double>(total_tokens);
    if (!slot.decoding) {
      slot.prefill_seconds += share;
      if (std::binary_search(slot.stops.begin(), slot.stops.end(), slot.seq.n_tokens())) slot.seq.Checkpoint();
      if (slot.seq.n_tokens() < static_cast<int64_t>(slot.request->prompt.size())) continue;
      slot.decoding = true;
    } else {
      slot.decode_seconds += share;
    }
    if (!slot.decoder->Step(slot.logits, &slot.next)) {
      Finish(slot);
    } else if (slot.seq.n_tokens() + 1 > options_.context) {
      slot.decoder->Stop(FinishReason::kLength);
      Finish(slot);
    }
  }
  return true;
}

void BatchScheduler::Finish(Slot& slot) {
  GenerateResult result = slot.decoder->TakeResult();
  result.reused_tokens = static_cast<int>(slot.reused);
  result.prompt_tokens = static_cast<int>(slot.request->prompt.size() - slot.reused);
  result.prefill_seconds = slot.prefill_seconds;
  result.decode_seconds = slot.decode_seconds;
  std::shared_ptr<ScheduledRequest> request = std::move(slot.request);
  slot.request = nullptr;
  slot.decoder.reset();
  slot.last_used = ++clock_;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --stats_.active;
    uint64_t kv = 0;
    for (auto& s : slots_) kv += s->seq.cache().bytes_in_use() + s->seq.checkpoint_bytes();
    stats_.kv_bytes = kv;
  }
  request->on_done(std::move(result), "");
}

}  // namespace g4
