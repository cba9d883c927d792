// libg4 chat API: OpenAI-style messages in, a streamed Gemma 4 answer out (reasoning, content,
// tool calls), with thinking on or off, JSON-schema-constrained output and sampling options.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "g4/engine.h"

namespace g4 {

// Unset fields take the model file's values, else Gemma's defaults (temperature 1.0, top-k 64,
// top-p 0.95).
struct SamplingOptions {
  std::optional<float> temperature, top_p, min_p, repetition_penalty, presence_penalty, frequency_penalty;
  std::optional<int32_t> top_k;
  std::optional<uint64_t> seed;  // unset: random
  std::map<int32_t, float> logit_bias;  // OpenAI's logit_bias: token id -> added to its logit
};

struct ChatRequest {
  // OpenAI chat messages. Content parts may carry media, in message order:
  //   {"type":"image_url","image_url":{"url":URL}}      PNG, JPEG, WebP, GIF (first frame), BMP
  //   {"type":"input_audio","input_audio":{"data":BASE64,"format":"wav"|"mp3"|"flac"|...}}
  //   {"type":"video_url","video_url":{"url":URL}}      MP4, MKV, WebM, MOV, ...
  // URL is a data URL ("data:image/png;base64,...") or, when allow_file_urls, a file:// URL.
  // Media the model has no encoder for, and media that cannot be decoded, make the request fail
  // with a message naming the part ("messages[1].content[0]"); media are never dropped.
  nlohmann::json messages = nlohmann::json::array();
  int image_tokens = 280;     // soft tokens per image: 70, 140, 280, 560 or 1120 (spec §4.2)
  int video_frames = 32;      // frames sampled evenly over each video (70 soft tokens each)
  bool allow_file_urls = false;  // the CLI sets it for the user's own files; the server never does
  nlohmann::json tools;                                // null or an OpenAI tools array
  // OpenAI tool_choice: null or "auto" (the model decides), "none" (no call), "required" (the
  // answer is one or more calls, after the thoughts when thinking), or
  // {"type":"function","function":{"name":NAME}} (calls to that tool).
  nlohmann::json tool_choice;
  // Calls the model writes are constrained to the declared tools, with arguments valid for each
  // tool's "parameters" schema (a schema the grammar does not support is then an error). false:
  // calls are generated freely and checked only by the parser (undeclared names are errors).
  bool constrain_tool_calls = true;
  bool thinking = false;
  // Called after each piece of the prompt is evaluated: prompt tokens evaluated so far and in
  // all (not counting those reused from the cache). May be empty.
  std::function<void(int64_t done, int64_t total)> on_prefill_progress;
  // Output constraint: null for free text, {"type":"object"} for OpenAI's json_object, or any
  // JSON Schema (OpenAI json_schema.schema).
  nlohmann::json json_schema;
  int max_tokens = -1;  // -1: until the context is full
  std::vector<std::string> stop;
  SamplingOptions sampling;
};

struct ChatEvent {
  enum class Type { kReasoning, kContent, kToolCallBegin, kToolCallArguments, kToolCallEnd, kError };
  Type type = Type::kContent;
  std::string text;     // delta text; tool name (begin); JSON text (arguments, end); raw text (error)
  int tool_index = -1;  // which tool call of this answer; kError: the call it voids (-1: none)
  std::string message;  // kError: why (a malformed call, or "call to undeclared tool 'NAME'")
};

struct ChatToolCall {
  std::string name;
  std::string arguments_json;
};

struct ChatResult {
  std::string reasoning;
  std::string content;
  std::vector<ChatToolCall> tool_calls;
  std::vector<std::string> errors;  // malformed tool calls, as "why: raw text"
  std::string finish_reason;        // "stop", "length", "tool_calls", "cancelled"
  int prompt_tokens = 0;            // tokens in the rendered prompt
  int cached_tokens = 0;            // of those, reused from the previous turn's cache
  int completion_tokens = 0;
  double prefill_tokens_per_second = 0;
  double decode_tokens_per_second = 0;
};

// One conversation's sequence state (KV cache). Each Respond renders the whole conversation;
// when it extends the previous one, only the new tokens are evaluated.
class ChatSession {
 public:
  static Status Create(const LoadedModel& model, const SessionConfig& config, std::unique_ptr<ChatSession>* out);
  ~ChatSession();

  // on_event may be empty; returning false from it stops the generation (finish "cancelled").
  // `cancel`, when given, is polled between tokens.
  Status Respond(const ChatRequest& request, const std::function<bool(const ChatEvent&)>& on_event,
                 ChatResult* result, const std::atomic<bool>* cancel = nullptr);
  // Renders a request to the prompt text the model sees (special tokens written literally).
  Status RenderPrompt(const ChatRequest& request, std::string* prompt) const;
  void Reset();

 private:
  struct Impl;
  ChatSession() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace g4
