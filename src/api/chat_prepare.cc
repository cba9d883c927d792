#include "api/chat_prepare.h"

#include <random>

#include "base/error.h"
#include "chat/chat_template.h"
#include "grammar/gemma_call_grammar.h"
#include "tokenizer/tokenizer.h"

namespace g4 {

namespace {

RenderOptions MakeRenderOptions(const Model& model, const ChatRequest& request) {
  RenderOptions options;
  options.enable_thinking = request.thinking;
  options.add_generation_prompt = true;
  // The E2B/E4B template rules apply to the models with per-layer embeddings; the larger ones
  // (26B-A4B, 31B) get the empty thought block when thinking is off.
  options.size_class = model.config().ple_dim > 0 ? ModelSizeClass::kSmall : ModelSizeClass::kLarge;
  return options;
}

std::set<std::string> DeclaredToolNames(const nlohmann::json& tools) {
  std::set<std::string> names;
  if (!tools.is_array()) return names;
  for (const nlohmann::json& t : tools) {
    const nlohmann::json& f = t.contains("function") ? t["function"] : t;
    if (f.is_object() && f.contains("name") && f["name"].is_string()) names.insert(f["name"].get<std::string>());
  }
  return names;
}

// The request's tool_choice and tools -> the generator's tool-call options.
ToolCallOptions MakeToolCallOptions(const ChatRequest& request) {
  ToolCallOptions o;
  const nlohmann::json& choice = request.tool_choice;
  nlohmann::json tools = request.tools;
  if (choice.is_null() || choice == "auto") {
    o.choice = ToolChoice::kAuto;
  } else if (choice == "none") {
    o.choice = ToolChoice::kNone;
  } else if (choice == "required") {
    o.choice = ToolChoice::kRequired;
  } else if (choice.is_object() && choice.contains("function") && choice["function"].is_object() &&
             choice["function"].contains("name") && choice["function"]["name"].is_string()) {
    const std::string name = choice["function"]["name"].get<std::string>();
    if (DeclaredToolNames(tools).count(name) == 0) Fail("tool_choice: '", name, "' is not a declared tool");
    o.choice = ToolChoice::kRequired;
    nlohmann::json only = nlohmann::json::array();
    for (const nlohmann::json& t : tools) {
      const nlohmann::json& f = t.contains("function") ? t["function"] : t;
      if (f.value("name", "") == name) only.push_back(t);
    }
    tools = std::move(only);  // the grammar offers that tool alone
  } else {
    Fail("tool_choice: expected \"auto\", \"none\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":...}}, got ",
         choice.dump());
  }
  if (o.choice == ToolChoice::kRequired) {
    if (!tools.is_array() || tools.empty()) Fail("tool_choice: a call is required but no tools are declared");
    if (!request.json_schema.is_null()) Fail("tool_choice: a required call cannot be combined with a JSON answer format");
    if (!request.constrain_tool_calls) Fail("tool_choice: a required call needs constrained tool calls");
  }
  if (request.constrain_tool_calls && tools.is_array()) o.grammar = grammar::GemmaCallGrammar::Compile(tools);
  o.allow_thoughts = request.thinking;
  return o;
}

}  // namespace

RenderedPrompt RenderChatRequestMarked(const Model& model, const ChatRequest& request) {
  if (!request.messages.is_array()) Fail("messages must be an array");
  if (!request.tools.is_null()) ValidateOpenAiTools(request.tools);
  return RenderChatMarked(ParseOpenAiMessages(request.messages), request.tools, MakeRenderOptions(model, request));
}

std::string RenderChatRequest(const Model& model, const ChatRequest& request) {
  return RenderChatRequestMarked(model, request).text;
}

SamplingParams MakeSampling(const Model& model, const SamplingOptions& o) {
  ModelSamplingDefaults defaults;
  if (model.gguf() != nullptr) defaults = ReadModelSamplingDefaults(*model.gguf());
  SamplingParams p = DefaultSamplingParams(defaults);
  if (o.temperature) p.temperature = *o.temperature;
  if (o.top_k) p.top_k = *o.top_k;
  if (o.top_p) p.top_p = *o.top_p;
  if (o.min_p) p.min_p = *o.min_p;
  if (o.repetition_penalty) p.repetition_penalty = *o.repetition_penalty;
  if (o.presence_penalty) p.presence_penalty = *o.presence_penalty;
  if (o.frequency_penalty) p.frequency_penalty = *o.frequency_penalty;
  p.seed = o.seed ? *o.seed : std::random_device{}();
  p.logit_bias.assign(o.logit_bias.begin(), o.logit_bias.end());
  return p;
}

ChatEvent ToPublicEvent(const OutputEvent& e) {
  ChatEvent out;
  switch (e.type) {
    case OutputEventType::kReasoningDelta:
      out.type = ChatEvent::Type::kReasoning;
      break;
    case OutputEventType::kContentDelta:
      out.type = ChatEvent::Type::kContent;
      break;
    case OutputEventType::kToolCallBegin:
      out.type = ChatEvent::Type::kToolCallBegin;
      break;
    case OutputEventType::kToolCallArgumentsDelta:
      out.type = ChatEvent::Type::kToolCallArguments;
      break;
    case OutputEventType::kToolCallEnd:
      out.type = ChatEvent::Type::kToolCallEnd;
      break;
    case OutputEventType::kError:
      out.type = ChatEvent::Type::kError;
      break;
    case OutputEventType::kEndOfTurn:
      break;
  }
  out.text = e.text;
  out.tool_index = e.tool_index;
  out.message = e.message;
  return out;
}

PreparedChat PrepareChat(const Model& model, const ChatRequest& request, const MediaEncoders& encoders) {
  PreparedChat prepared;
  const RenderedPrompt rendered = RenderChatRequestMarked(model, request);
  prepared.prompt = rendered.text;
  // Request text is encoded as plain text: it cannot inject control tokens, so every media
  // placeholder id in the result is one the template wrote for a media part.
  prepared.ids = model.tokenizer().EncodeMarked(rendered.text, rendered.user);
  ResolveRequestMedia(request, rendered.media_sources, encoders, model.tokenizer(), model.config().d_model,
                      &prepared.ids, &prepared.soft);
  prepared.declared_tools = DeclaredToolNames(request.tools);
  GenerateOptions& options = prepared.options;
  options.sampling = MakeSampling(model, request.sampling);
  ValidateSamplingParams(options.sampling, model.config().vocab_size);
  options.max_tokens = request.max_tokens;
  options.stop_strings = request.stop;
  options.starts_in_reasoning = PromptEndsInsideReasoning(prepared.prompt);
  if (!request.json_schema.is_null()) {
    options.grammar = grammar::JsonSchemaGrammar::Compile(request.json_schema);
    options.allow_thoughts = request.thinking;
  }
  options.tool_calls = MakeToolCallOptions(request);
  options.prefill_progress = request.on_prefill_progress;
  return prepared;
}

std::string UndeclaredToolMessage(const std::string& name) { return Concat("call to undeclared tool '", name, "'"); }

ChatResult ToChatResult(const GenerateResult& r, const PreparedChat& prepared, bool has_tools) {
  ChatResult out;
  out.reasoning = r.parsed.reasoning;
  out.content = r.parsed.content;
  for (const ParsedToolCall& call : r.parsed.tool_calls) {
    if (has_tools && prepared.declared_tools.count(call.name) == 0) {
      // A call to a tool the request never declared is reported, not passed on as if valid.
      out.errors.push_back(UndeclaredToolMessage(call.name) + ": " + call.arguments.dump());
      continue;
    }
    out.tool_calls.push_back({call.name, call.arguments.dump()});
  }
  for (const OutputParseError& err : r.parsed.errors) out.errors.push_back(err.message + ": " + err.raw);
  out.finish_reason = FinishReasonName(r.finish);
  if (r.finish == FinishReason::kToolCalls && out.tool_calls.empty()) out.finish_reason = "stop";
  out.prompt_tokens = static_cast<int>(prepared.ids.size());
  out.cached_tokens = r.reused_tokens;
  out.completion_tokens = r.completion_tokens;
  out.prefill_tokens_per_second = r.prefill_seconds > 0 ? r.prompt_tokens / r.prefill_seconds : 0;
  out.decode_tokens_per_second = r.decode_seconds > 0 ? r.completion_tokens / r.decode_seconds : 0;
  return out;
}

}  // namespace g4
