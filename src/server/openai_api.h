// The OpenAI HTTP API's request and response shapes: request bodies are checked field by
// field (a wrong type names the field and gives HTTP 400), turned into a ChatRequest plus
// the server-only options, and results are written back as chat.completion /
// chat.completion.chunk / text_completion objects.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/sequence_decoder.h"
#include "g4/chat.h"

namespace g4 {

// An error the client caused (or the server's state, for 503): HTTP status, message, and the
// request field it concerns.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = "", std::string code = "")
      : std::runtime_error(message), status_(status), param_(std::move(param)), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string param_, code_;
};

// {"error": {"message", "type", "param", "code"}} as OpenAI writes it.
nlohmann::json ErrorBody(int status, const std::string& message, const std::string& param = "",
                         const std::string& code = "");

// A media content part of a request: messages[message].content[part].
struct MediaPartRef {
  enum Kind { kImage, kAudio, kVideo };
  size_t message = 0, part = 0;
  Kind kind = kImage;
  bool bare_url = false;          // "image_url": URL rather than {"url": URL}
  std::string path() const;       // "messages[0].content[1]"
  std::string url_field() const;  // its URL (or input_audio.data) field
};

struct ChatCompletionRequest {
  ChatRequest chat;
  std::vector<MediaPartRef> media;  // shapes checked; URLs are data: or http(s):
  std::string model;
  bool stream = false;
  bool include_usage = false;
  bool parallel_tool_calls = true;
  bool logprobs = false;
  int top_logprobs = 0;
};

// Throws ApiError(400) naming the field.
ChatCompletionRequest ParseChatCompletionRequest(const nlohmann::json& body);

struct CompletionRequest {
  std::string prompt;
  std::string model;
  bool stream = false;
  bool include_usage = false;
  bool echo = false;
  int max_tokens = 16;  // OpenAI's default for /v1/completions
  std::vector<std::string> stop;
  SamplingOptions sampling;
  bool logprobs = false;
  int top_logprobs = 0;
};
CompletionRequest ParseCompletionRequest(const nlohmann::json& body);

// Usage object: prompt/completion/total tokens and the cached prompt tokens.
nlohmann::json UsageJson(int prompt_tokens, int cached_tokens, int completion_tokens);

// Turns the parser's events into chat.completion.chunk deltas: reasoning_content, content,
// and tool_calls with index, id, name and argument fragments.
class ChunkWriter {
 public:
  // Calls to tools outside `declared` (when it is non-empty) are not streamed.
  ChunkWriter(std::string id, std::string model, int64_t created, std::set<std::string> declared);
  // The first chunk ({"role":"assistant"}).
  nlohmann::json RoleChunk() const;
  // A delta for one event, or null when the event adds nothing to show.
  nlohmann::json EventChunk(const OutputEvent& event);
  nlohmann::json FinalChunk(const std::string& finish_reason) const;
  nlohmann::json UsageChunk(const nlohmann::json& usage) const;

 private:
  nlohmann::json Chunk(nlohmann::json delta, const nlohmann::json& finish_reason) const;
  std::string id_, model_;
  int64_t created_;
  std::set<std::string> declared_;
  std::map<int, int> public_index_;  // parser's tool index -> index in the streamed answer
  std::set<int> skipped_tools_;
};

// A new id such as "chatcmpl-5f0c..." (random hex).
std::string NewId(const std::string& prefix);
std::string ToolCallId(const std::string& completion_id, int index);

}  // namespace g4
