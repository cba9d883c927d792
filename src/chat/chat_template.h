// Gemma 4 chat rendering: the official chat template (the 2026-07-09 "canonical" revision,
// spec/gemma4-io.md §3.5) written as a C++ function instead of a Jinja engine. The output is the
// prompt text with every special token written literally ("<bos>", "<|turn>", "<|"|>", ...);
// the tokenizer turns those into their ids.
//
// Inputs mirror the OpenAI chat API (what the server receives) and the Gemma-native extras the
// template understands, so the server and the CLI both fill the same structs:
//   * messages with roles system / developer (rendered as system), user, assistant (also
//     "model"), tool;
//   * content as a string or as parts (text, image, audio, video — media become the one-token
//     placeholders <|image|>, <|audio|>, <|video|> of §3.4, expanded later by the processor);
//   * assistant tool_calls, reasoning (reasoning_content), Gemma-native tool_responses;
//   * tools as OpenAI function declarations (JSON Schema), rendered in Gemma's declaration syntax
//     of §3.3.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tokenizer/tokenizer.h"  // TextSpan

namespace g4 {

enum class ChatRole {
  kSystem,     // "system" and "developer"
  kUser,       // "user"
  kAssistant,  // "assistant" and "model"
  kTool,       // "tool": the result of one tool call
};

enum class ContentPartType { kText, kImage, kAudio, kVideo };

struct ContentPart {
  ContentPartType type = ContentPartType::kText;
  std::string text;  // kText only. Media parts carry no data here: the placeholders are rendered
                     // and the caller keeps the media itself.
  std::string source;  // where the part came from ("messages[1].content[0]"), set by ParseOpenAiMessages
};

// A message's content: absent (null), a plain string, or a list of parts. The template treats a
// string and a one-part list slightly differently (system parts get a trailing space), so the
// distinction is kept.
using ChatContent = std::variant<std::monostate, std::string, std::vector<ContentPart>>;

struct ToolCall {
  std::optional<std::string> id;  // OpenAI "call_…" id; matched against tool_call_id
  std::string name;
  // A JSON object, or null for "no arguments". Anything else is rejected when rendering (the
  // 2026-07 template raises on string arguments; ParseOpenAiMessages decodes JSON strings).
  nlohmann::json arguments = nlohmann::json::object();
};

// A tool result in the Gemma-native form: an assistant message's own tool_responses list.
struct ToolResponse {
  std::string name;  // empty renders as "unknown", as the template does
  nlohmann::json response;  // an object renders as key:value pairs, anything else as {value:…}
};

struct ChatMessage {
  ChatRole role = ChatRole::kUser;
  ChatContent content;
  // Assistant reasoning (OpenAI-compatible "reasoning_content" or "reasoning"). Rendered only
  // inside the current agentic turn (after the last user message), see RenderOptions.
  std::string reasoning;
  std::vector<ToolCall> tool_calls;          // assistant
  std::vector<ToolResponse> tool_responses;  // assistant, Gemma-native results
  std::optional<std::string> tool_call_id;   // tool: which call this answers
  std::string name;                          // tool: fallback function name
};

// Which template variant: the E2B/E4B template differs from the 26B/31B one only in the
// generation prompt (the large models get an empty thought block when thinking is off).
enum class ModelSizeClass {
  kSmall,  // E2B, E4B
  kLarge,  // 26B-A4B, 31B
};

struct RenderOptions {
  bool enable_thinking = false;
  bool add_generation_prompt = true;
  ModelSizeClass size_class = ModelSizeClass::kSmall;
  // Template switch: also keep the reasoning of assistant messages with tool calls that come
  // before the last user message.
  bool preserve_thinking = false;
  // Not in the template (which renders a string tool result as {value:<|"|>…<|"|>}): when set, a
  // tool message whose string content is a JSON object is rendered as key:value pairs, as
  // llama.cpp does and as Google's function-calling guide shows (spec §3.3 recommendation).
  bool parse_tool_results_as_json = false;
};

// Renders the prompt. `tools` is null or an array of OpenAI tool objects
// ({type:"function", function:{name, description, parameters}}); a bare {name, description,
// parameters} object is accepted too. Throws g4::Error naming the offending messages[i] / tools[i]
// field: tool-call arguments that are not an object, a tool message that does not follow an
// assistant message with tool_calls, a malformed tool declaration.
std::string RenderChat(const std::vector<ChatMessage>& messages, const nlohmann::json& tools,
                       const RenderOptions& options);

// The same prompt, with the byte spans of request-supplied text marked (input marking): message
// contents, reasoning, tool names, call arguments, tool results and the tools' declarations
// (names, descriptions, property names, enum values). Tokenizer::EncodeMarked encodes them as
// plain text, so a user writing "<|turn>" or "<|tool_call>" cannot inject a control token;
// `text` is byte-identical to RenderChat's.
struct RenderedPrompt {
  std::string text;
  std::vector<TextSpan> user;  // sorted, disjoint
  // The `source` of each media part whose placeholder was rendered, in prompt order (which is
  // not always message order: tool results come before the content of the assistant message
  // they answer). Media parts missing here were not rendered (a leading system message).
  std::vector<std::string> media_sources;
};
RenderedPrompt RenderChatMarked(const std::vector<ChatMessage>& messages, const nlohmann::json& tools,
                                const RenderOptions& options);

// OpenAI "messages" array -> ChatMessage list. Accepts content strings and part arrays
// ({type:"text", text}, {type:"image_url"|"image"}, {type:"input_audio"|"audio"},
// {type:"video"|"video_url"|"input_video"}), tool_calls with arguments as a JSON string or an
// object, reasoning_content / reasoning, tool_call_id, name, and Gemma-native tool_responses.
// Throws g4::Error naming messages[i].field for unknown roles, wrong types and unparsable
// arguments.
std::vector<ChatMessage> ParseOpenAiMessages(const nlohmann::json& messages);

// Checks an OpenAI "tools" array the way RenderChat reads it; throws g4::Error naming
// tools[i].field. Lets a server reject a bad request before doing any work.
void ValidateOpenAiTools(const nlohmann::json& tools);

// The generation prompt this RenderChat call ended with opens the thought channel
// ("<|channel>thought\n"): the model's output then starts inside its reasoning, and the output
// parser must be told so (OutputParserOptions::starts_in_reasoning).
bool PromptEndsInsideReasoning(const std::string& prompt);

}  // namespace g4
