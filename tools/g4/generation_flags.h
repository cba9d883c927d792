// Flags and output shared by `g4 run` and `g4 chat`: model, context, threads, sampling, and
// how reasoning is shown.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "g4/chat.h"
#include "media_flags.h"

namespace g4::cli {

enum class ReasoningDisplay { kDim, kStderr, kHide };

struct GenerationFlags {
  std::string model;  // a path or a model name (resolved through the store)
  std::string store;  // --store: the model store folder ("" = default)
  bool no_memory_check = false;
  int context = 4096;
  std::string kv_type = "f16";
  int threads = 0;
  int max_tokens = -1;
  std::string system;
  bool think = false;
  std::string json_schema_file;
  std::string tools_file;
  std::string tool_choice;  // auto | none | required | a tool name
  bool no_constrain_tools = false;
  bool json = false;
  std::string reasoning = "auto";  // dim | stderr | hide | auto
  std::vector<std::string> stop;
  float temperature = -1, top_p = -1, min_p = -1, repeat_penalty = -1, presence_penalty = 0, frequency_penalty = 0;
  int top_k = -1;
  long long seed = -1;
  MmprojFlags mmproj;
  MediaFlags media;
};

void AddGenerationFlags(CLI::App* sub, GenerationFlags* flags);

// Loads the model (with the mmproj file that ChooseMmproj picks) and opens a chat session;
// prints the error and returns false on failure.
bool OpenChat(const GenerationFlags& flags, const char* command, std::unique_ptr<LoadedModel>* model,
              std::unique_ptr<ChatSession>* session);

// Fills the request's options from the flags (schema file read here; local media files allowed);
// false on error (printed).
bool ApplyGenerationFlags(const GenerationFlags& flags, const char* command, ChatRequest* request);

// The content parts of the --image/--audio/--video files (read before the model loads, so a
// wrong path fails at once); false on error (printed).
bool CommandLineMedia(const GenerationFlags& flags, const char* command, std::vector<nlohmann::json>* parts);

// Prints events as they stream: content to stdout, reasoning dimmed / to stderr / hidden, tool
// calls as one line each.
class EventPrinter {
 public:
  explicit EventPrinter(const GenerationFlags& flags);
  bool operator()(const ChatEvent& event);
  void Finish(const ChatResult& result);

 private:
  ReasoningDisplay display_;
  bool in_reasoning_ = false;
  bool wrote_content_ = false;
};

}  // namespace g4::cli
