// libg4 public API: load a Gemma 4 model (GGUF file or Hugging Face checkpoint folder), open
// sessions on it and evaluate tokens into logits. No exception crosses this API: every
// operation that can fail on user input returns a Status whose message names the file, field
// or value at fault.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace g4 {

class Status {
 public:
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message)); }
  bool ok() const { return ok_; }
  const std::string& message() const { return message_; }

 private:
  Status() = default;
  explicit Status(std::string message) : ok_(false), message_(std::move(message)) {}
  bool ok_ = true;
  std::string message_;
};

// One decoder layer as the model file describes it.
struct LayerSummary {
  std::string attention;  // "sliding" or "full"
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int window = 0;          // 0 for full attention
  int rope_pairs = 0;      // rotated lane pairs
  bool owns_kv = true;
  int kv_source = 0;       // layer whose KV cache it reads
  bool keys_as_values = false;
  int ff_dim = 0;
  bool moe = false;
};

struct TensorTypeCount {
  int64_t tensors = 0;
  int64_t elements = 0;
  uint64_t bytes = 0;
};

struct ModelSummary {
  std::string path;
  std::string format;        // "gguf" or "safetensors"
  std::string architecture;  // "gemma4"
  std::string variant;       // "E2B", "E4B", "26B-A4B", "31B" or "custom"
  int n_layers = 0;
  int d_model = 0;
  int vocab_size = 0;
  int context_length = 0;
  int sliding_window = 0;
  int ple_dim = 0;
  int n_experts = 0;
  int n_experts_used = 0;
  int expert_ff_dim = 0;
  int first_kv_shared_layer = 0;
  float final_softcap = 0;
  std::vector<LayerSummary> layers;
  int64_t text_parameters = 0;     // elements of all text-decoder tensors
  uint64_t text_weight_bytes = 0;
  int64_t multimodal_tensors = 0;  // vision/audio tensors present (not used yet)
  std::map<std::string, TensorTypeCount> tensor_types;  // by type name
};

class Model;
class Gemma4Session;
class MultimodalTowers;

struct LoadOptions {
  // A llama.cpp-style mmproj GGUF holding the vision and/or audio towers. Empty: the towers
  // inside the model's own files (Hugging Face checkpoints carry them; GGUF text files do not).
  std::string mmproj_path;
};

// A model loaded for inference; immutable and shareable by several sessions.
class LoadedModel {
 public:
  static Status Load(const std::string& path, std::unique_ptr<LoadedModel>* out);
  static Status Load(const std::string& path, const LoadOptions& options, std::unique_ptr<LoadedModel>* out);
  ~LoadedModel();

  // Whether images/video frames (vision tower) and audio (audio tower) can be given to it.
  bool has_vision() const;
  bool has_audio() const;

  ModelSummary Summary() const;
  // Bytes of KV cache for `context` tokens stored as kv_type (f32, f16, bf16, q8_0; sliding
  // layers keep only their window, KV-shared layers none).
  uint64_t KvCacheBytes(int64_t context, const std::string& kv_type = "f16") const;
  int vocab_size() const;
  int context_length() const;
  const Model& internal() const { return *model_; }
  const MultimodalTowers* towers() const { return towers_.get(); }  // null: text only

 private:
  LoadedModel() = default;
  std::unique_ptr<Model> model_;
  std::unique_ptr<MultimodalTowers> towers_;
};

struct SessionConfig {
  int context = 0;    // 0: the model's context length, capped at 32768
  int n_threads = 0;  // 0: one per hardware thread
  std::string kv_type = "f16";  // KV cache entries: f32, f16, bf16 or q8_0
};

// A sequence being evaluated: owns its KV cache.
class Session {
 public:
  static Status Create(const LoadedModel& model, const SessionConfig& config, std::unique_ptr<Session>* out);
  ~Session();

  // Evaluates `tokens` after those already in the session. `logits` receives [n][vocab]
  // floats when all_positions, else the last position's [vocab].
  Status Eval(const std::vector<int32_t>& tokens, bool all_positions, std::vector<float>* logits);
  int64_t n_past() const;
  void Reset();

 private:
  Session() = default;
  std::unique_ptr<Gemma4Session> impl_;
};

}  // namespace g4
