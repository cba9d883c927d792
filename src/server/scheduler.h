// Continuous batching: up to `parallel` generations share every forward pass. Each pass takes
// one decode token from every running sequence and fills the rest of its token budget with
// prefill chunks of sequences that are still reading their prompts, so a long prompt never
// stalls the others. New requests take the idle slot whose cache shares the longest prefix
// with their prompt (restoring a ring checkpoint where needed); beyond `parallel` they wait in
// a bounded queue.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/cached_sequence.h"
#include "engine/sequence_decoder.h"
#include "model/gemma4_text.h"

namespace g4 {

struct SchedulerOptions {
  int parallel = 4;          // sequences decoded together (slots)
  int context = 4096;        // tokens per slot
  int n_threads = 0;
  int max_queue = 64;        // requests waiting for a slot; more are refused
  int batch_tokens = 512;    // most tokens in one forward pass
  int checkpoints = 8;       // ring checkpoints kept per slot for prefix reuse
  DType kv_type = DType::kF16;
};

// One generation request. The callbacks run on the scheduler's thread and must be quick.
struct ScheduledRequest {
  std::vector<int32_t> prompt;  // kSoftToken at soft positions
  SoftTokens soft;              // their embeddings, in order (empty for text-only prompts)
  GenerateOptions options;
  // Events as tokens are decoded; return false to stop (the client went away).
  EventCallback on_event;
  // Exactly once: the result, and an error message when the generation failed.
  std::function<void(GenerateResult, const std::string& error)> on_done;
  std::atomic<bool> cancelled{false};
  std::vector<uint64_t> position_keys;  // set by Submit: PositionKeys(prompt, &soft)
};

struct SchedulerStats {
  int slots = 0, active = 0, queued = 0;
  uint64_t requests = 0, rejected = 0;
  uint64_t prompt_tokens = 0;     // evaluated (after reuse)
  uint64_t reused_tokens = 0;     // prompt tokens taken from a cache
  uint64_t generated_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;  // forward time split by token kind
  uint64_t kv_bytes = 0;          // KV cache and checkpoints in use
};

class BatchScheduler {
 public:
  BatchScheduler(const Model& model, const Tokenizer& tokenizer, const SchedulerOptions& options);
  ~BatchScheduler();

  // Queues a request; false when the queue is full. Throws g4::Error when the prompt is empty,
  // longer than a slot's context, or its soft positions and embeddings disagree. A
  // bidirectional image run is prefilled in one pass even when that exceeds batch_tokens.
  bool Submit(std::shared_ptr<ScheduledRequest> request);
  SchedulerStats Stats() const;
  const DecodingVocabulary& vocabulary() const { return *vocab_; }
  int context() const { return options_.context; }

 private:
  struct Slot;
  void Loop();
  void Admit(std::unique_lock<std::mutex>& lock);
  bool RunOneStep();
  void Finish(Slot& slot);

  const Model& model_;
  SchedulerOptions options_;
  std::shared_ptr<const DecodingVocabulary> vocab_;
  Gemma4Decoder decoder_;
  int32_t turn_start_ = -1;
  std::vector<std::unique_ptr<Slot>> slots_;
  uint64_t clock_ = 0;  // for least-recently-used slot choice

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<ScheduledRequest>> queue_;
  SchedulerStats stats_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace g4
