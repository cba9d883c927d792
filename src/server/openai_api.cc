#include "server/openai_api.h"

#include <algorithm>
#include <cstdlib>
#include <random>

#include "base/error.h"
#include "media/image_resize.h"
#include "media/video.h"

namespace g4 {

using nlohmann::json;

json ErrorBody(int status, const std::string& message, const std::string& param, const std::string& code) {
  std::string type = "invalid_request_error";
  if (status == 401) type = "authentication_error";
  if (status == 404) type = "not_found_error";
  if (status == 429 || status == 503) type = "server_overloaded";
  if (status >= 500 && status != 503) type = "server_error";
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", code.empty() ? json(nullptr) : json(code)}}}};
}

namespace {

[[noreturn]] void BadField(const std::string& field, const std::string& why) {
  throw ApiError(400, Concat("'", field, "': ", why), field);
}

const json* Field(const json& body, const char* name) {
  const auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

bool BoolField(const json& body, const char* name, bool fallback) {
  const json* v = Field(body, name);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) BadField(name, Concat("expected a boolean, got ", v->type_name()));
  return v->get<bool>();
}

std::optional<double> NumberField(const json& body, const char* name, double lo, double hi) {
  const json* v = Field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) BadField(name, Concat("expected a number, got ", v->type_name()));
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi)) BadField(name, Concat(x, " is outside [", lo, ", ", hi, "]"));
  return x;
}

std::optional<int64_t> IntField(const json& body, const char* name, int64_t lo, int64_t hi) {
  const json* v = Field(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number_integer() && !(v->is_number_float() && v->get<double>() == static_cast<int64_t>(v->get<double>()))) {
    BadField(name, Concat("expected an integer, got ", v->is_number() ? v->dump() : v->type_name()));
  }
  const int64_t x = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                        ? INT64_MAX
                        : static_cast<int64_t>(v->get<double>());
  if (x < lo || x > hi) BadField(name, Concat(x, " is outside [", lo, ", ", hi, "]"));
  return x;
}

std::string StringField(const json& body, const char* name) {
  const json* v = Field(body, name);
  if (v == nullptr) return "";
  if (!v->is_string()) BadField(name, Concat("expected a string, got ", v->type_name()));
  return v->get<std::string>();
}

std::vector<std::string> StopField(const json& body) {
  const json* v = Field(body, "stop");
  if (v == nullptr) return {};
  if (v->is_string()) return {v->get<std::string>()};
  if (!v->is_array()) BadField("stop", Concat("expected a string or an array of strings, got ", v->type_name()));
  if (v->size() > 16) BadField("stop", "at most 16 stop strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string()) BadField(Concat("stop[", i, "]"), "expected a string");
    out.push_back((*v)[i].get<std::string>());
  }
  return out;
}

SamplingOptions SamplingFields(const json& body) {
  SamplingOptions s;
  if (auto x = NumberField(body, "temperature", 0, 2)) s.temperature = static_cast<float>(*x);
  if (auto x = NumberField(body, "top_p", 0, 1)) s.top_p = static_cast<float>(*x);
  if (auto x = NumberField(body, "min_p", 0, 1)) s.min_p = static_cast<float>(*x);
  if (auto x = IntField(body, "top_k", 0, 1 << 20)) s.top_k = static_cast<int32_t>(*x);
  if (auto x = NumberField(body, "presence_penalty", -2, 2)) s.presence_penalty = static_cast<float>(*x);
  if (auto x = NumberField(body, "frequency_penalty", -2, 2)) s.frequency_penalty = static_cast<float>(*x);
  if (auto x = NumberField(body, "repetition_penalty", 0.01, 10)) s.repetition_penalty = static_cast<float>(*x);
  if (const json* bias = Field(body, "logit_bias")) {
    if (!bias->is_object()) BadField("logit_bias", "expected an object of token id -> bias");
    for (const auto& [key, value] : bias->items()) {
      char* end = nullptr;
      const long id = std::strtol(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || id < 0 || id > INT32_MAX) BadField("logit_bias", Concat("'", key, "' is not a token id"));
      if (!value.is_number() || value.get<double>() < -100 || value.get<double>() > 100) {
        BadField(Concat("logit_bias.", key), "expected a number in [-100, 100]");
      }
      s.logit_bias[static_cast<int32_t>(id)] = value.get<float>();
    }
  }
  if (const json* v = Field(body, "seed")) {
    if (!v->is_number_integer()) BadField("seed", Concat("expected an integer, got ", v->type_name()));
    s.seed = v->is_number_unsigned() ? v->get<uint64_t>() : static_cast<uint64_t>(v->get<int64_t>());
  }
  return s;
}

void StreamOptions(const json& body, bool stream, bool* include_usage) {
  const json* v = Field(body, "stream_options");
  if (v == nullptr) return;
  if (!v->is_object()) BadField("stream_options", "expected an object");
  if (!stream) BadField("stream_options", "only allowed when 'stream' is true");
  const json* u = Field(*v, "include_usage");
  if (u != nullptr && !u->is_boolean()) BadField("stream_options.include_usage", "expected a boolean");
  *include_usage = u != nullptr && u->get<bool>();
}

void LogprobFields(const json& body, bool* logprobs, int* top) {
  const json* v = Field(body, "logprobs");
  if (v != nullptr && !v->is_boolean()) BadField("logprobs", Concat("expected a boolean, got ", v->type_name()));
  *logprobs = v != nullptr && v->get<bool>();
  if (auto x = IntField(body, "top_logprobs", 0, 20)) {
    if (!*logprobs) BadField("top_logprobs", "requires 'logprobs': true");
    *top = static_cast<int>(*x);
  }
}

void CheckN(const json& body) {
  if (auto n = IntField(body, "n", 1, 128); n && *n != 1) BadField("n", "only n = 1 is supported");
}

// An image_url / video_url URL: a base64 data URL, or http(s) (fetched only when the server
// allows remote media). Local files are never read on a client's behalf.
void CheckMediaUrl(const json& url, const std::string& field) {
  if (!url.is_string()) BadField(field, Concat("expected a string, got ", url.type_name()));
  const std::string& u = url.get_ref<const std::string&>();
  const std::string scheme = u.substr(0, std::min(u.find(':'), u.size()));
  if (scheme == "data") {
    const size_t comma = u.find(',');
    if (comma == std::string::npos) BadField(field, "a data URL needs a comma before its data");
    // "data:" + optional MIME type and parameters + ";base64" before the comma.
    if (comma < 12 || u.compare(comma - 7, 7, ";base64") != 0) {
      BadField(field, "the data URL is not base64-encoded (expected data:MIME;base64,DATA)");
    }
  } else if (scheme != "http" && scheme != "https") {
    BadField(field, Concat(u.empty() ? "empty URL" : "unsupported URL scheme '" + scheme + "'",
                           ": send the file as a data URL (data:MIME;base64,DATA) or an http(s) URL"));
  }
}

// `shapes` says what the field may be ("an object", "an object or a URL string").
const json& ObjectField(const json& part, const char* name, const std::string& where, const char* shapes) {
  const json* v = Field(part, name);
  if (v == nullptr) BadField(Concat(where, ".", name), "is required");
  if (!v->is_object()) BadField(Concat(where, ".", name), Concat("expected ", shapes, ", got ", v->type_name()));
  return *v;
}

void CheckStringField(const json& object, const char* name, const std::string& where) {
  const json* v = Field(object, name);
  if (v == nullptr) BadField(Concat(where, ".", name), "is required");
  if (!v->is_string()) BadField(Concat(where, ".", name), Concat("expected a string, got ", v->type_name()));
}

// The media parts of the messages, their shapes checked (a wrong one names the field).
std::vector<MediaPartRef> MediaPartsOf(const json& messages) {
  std::vector<MediaPartRef> media;
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const json* content = m.is_object() ? Field(m, "content") : nullptr;
    if (content == nullptr || !content->is_array()) continue;
    for (size_t j = 0; j < content->size(); ++j) {
      const json& part = (*content)[j];
      const json* type = part.is_object() ? Field(part, "type") : nullptr;
      if (type == nullptr || !type->is_string()) continue;  // the template names malformed parts
      const std::string where = Concat("messages[", i, "].content[", j, "]");
      const std::string& t = type->get_ref<const std::string&>();
      if (t == "image_url" || t == "video_url") {
        // OpenAI's {"url": URL} object, or the bare URL string some clients send.
        const json* value = Field(part, t.c_str());
        if (value != nullptr && value->is_string()) {
          CheckMediaUrl(*value, Concat(where, ".", t));
        } else {
          const json& object = ObjectField(part, t.c_str(), where, "an object or a URL string");
          CheckMediaUrl(object.contains("url") ? object["url"] : json(), Concat(where, ".", t, ".url"));
          if (const json* detail = Field(object, "detail"); detail != nullptr && !detail->is_string()) {
            BadField(Concat(where, ".", t, ".detail"), "expected a string");
          }
        }
        media.push_back({i, j, t == "image_url" ? MediaPartRef::kImage : MediaPartRef::kVideo, value->is_string()});
      } else if (t == "input_audio") {
        const json& object = ObjectField(part, "input_audio", where, "an object");
        CheckStringField(object, "data", where + ".input_audio");
        CheckStringField(object, "format", where + ".input_audio");
        media.push_back({i, j, MediaPartRef::kAudio});
      }
    }
  }
  return media;
}

}  // namespace

std::string MediaPartRef::path() const { return Concat("messages[", message, "].content[", part, "]"); }

std::string MediaPartRef::url_field() const {
  if (kind == kAudio) return path() + ".input_audio.data";
  return Concat(path(), kind == kImage ? ".image_url" : ".video_url", bare_url ? "" : ".url");
}

ChatCompletionRequest ParseChatCompletionRequest(const json& body) {
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
  ChatCompletionRequest r;
  r.model = StringField(body, "model");
  const json* messages = Field(body, "messages");
  if (messages == nullptr) throw ApiError(400, "'messages' is required", "messages");
  if (!messages->is_array() || messages->empty()) BadField("messages", "expected a non-empty array");
  r.media = MediaPartsOf(*messages);
  r.chat.messages = *messages;
  if (auto x = IntField(body, "image_tokens", 70, 1120)) {
    if (!IsImageTokenBudget(static_cast<int>(*x))) {
      BadField("image_tokens", Concat("expected 70, 140, 280, 560 or 1120, got ", *x));
    }
    r.chat.image_tokens = static_cast<int>(*x);
  }
  if (auto x = IntField(body, "video_frames", 1, kMaxVideoFrames)) r.chat.video_frames = static_cast<int>(*x);
  r.stream = BoolField(body, "stream", false);
  StreamOptions(body, r.stream, &r.include_usage);
  CheckN(body);
  r.chat.stop = StopField(body);
  r.chat.sampling = SamplingFields(body);
  LogprobFields(body, &r.logprobs, &r.top_logprobs);
  std::optional<int64_t> max_tokens = IntField(body, "max_completion_tokens", 1, INT32_MAX);
  if (!max_tokens) max_tokens = IntField(body, "max_tokens", 1, INT32_MAX);
  r.chat.max_tokens = max_tokens ? static_cast<int>(*max_tokens) : -1;

  if (const json* tools = Field(body, "tools")) {
    if (!tools->is_array()) BadField("tools", Concat("expected an array, got ", tools->type_name()));
    if (!tools->empty()) r.chat.tools = *tools;
  }
  r.parallel_tool_calls = BoolField(body, "parallel_tool_calls", true);
  if (const json* choice = Field(body, "tool_choice")) {
    if (choice->is_string()) {
      const std::string c = choice->get<std::string>();
      if (c != "auto" && c != "none" && c != "required") {
        BadField("tool_choice", Concat("expected \"auto\", \"none\", \"required\" or an object, got \"", c, "\""));
      }
    } else if (choice->is_object()) {
      const json* f = Field(*choice, "function");
      const json* name = f != nullptr && f->is_object() ? Field(*f, "name") : nullptr;
      if (name == nullptr || !name->is_string()) BadField("tool_choice.function.name", "expected a string");
    } else {
      BadField("tool_choice", Concat("expected a string or an object, got ", choice->type_name()));
    }
    if (*choice != "auto" && *choice != "none" && r.chat.tools.is_null()) BadField("tool_choice", "needs 'tools'");
    r.chat.tool_choice = *choice;
  }
  // Thinking: chat_template_kwargs.enable_thinking (llama.cpp, vLLM) or reasoning_effort.
  if (const json* effort = Field(body, "reasoning_effort")) {
    if (!effort->is_string()) BadField("reasoning_effort", "expected a string");
    const std::string e = effort->get<std::string>();
    if (e != "none" && e != "minimal" && e != "low" && e != "medium" && e != "high") {
      BadField("reasoning_effort", Concat("expected none, minimal, low, medium or high, got \"", e, "\""));
    }
    r.chat.thinking = e != "none";
  }
  if (const json* kwargs = Field(body, "chat_template_kwargs")) {
    if (!kwargs->is_object()) BadField("chat_template_kwargs", "expected an object");
    r.chat.thinking = BoolField(*kwargs, "enable_thinking", r.chat.thinking);
  }

  if (const json* format = Field(body, "response_format")) {
    if (!format->is_object()) BadField("response_format", "expected an object");
    const std::string type = StringField(*format, "type");
    if (type == "json_object") {
      r.chat.json_schema = {{"type", "object"}};
    } else if (type == "json_schema") {
      const json* spec = Field(*format, "json_schema");
      if (spec == nullptr || !spec->is_object()) BadField("response_format.json_schema", "expected an object");
      const json* schema = Field(*spec, "schema");
      if (schema == nullptr) BadField("response_format.json_schema.schema", "is required");
      if (!schema->is_object() && !schema->is_boolean()) BadField("response_format.json_schema.schema", "expected an object");
      r.chat.json_schema = *schema;
    } else if (type != "text") {
      BadField("response_format.type", Concat("expected text, json_object or json_schema, got \"", type, "\""));
    }
  }
  return r;
}

CompletionRequest ParseCompletionRequest(const json& body) {
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
  CompletionRequest r;
  r.model = StringField(body, "model");
  const json* prompt = Field(body, "prompt");
  if (prompt == nullptr) throw ApiError(400, "'prompt' is required", "prompt");
  if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) prompt = &(*prompt)[0];
  if (!prompt->is_string()) BadField("prompt", "expected a string (one prompt per request)");
  r.prompt = prompt->get<std::string>();
  r.stream = BoolField(body, "stream", false);
  StreamOptions(body, r.stream, &r.include_usage);
  r.echo = BoolField(body, "echo", false);
  CheckN(body);
  if (auto x = IntField(body, "max_tokens", 0, INT32_MAX)) r.max_tokens = static_cast<int>(*x);
  r.stop = StopField(body);
  r.sampling = SamplingFields(body);
  if (const json* v = Field(body, "logprobs")) {
    // /v1/completions takes an integer: the number of alternatives.
    if (!v->is_number_integer()) BadField("logprobs", "expected an integer");
    if (auto x = IntField(body, "logprobs", 0, 5)) {
      r.logprobs = true;
      r.top_logprobs = static_cast<int>(*x);
    }
  }
  return r;
}

json UsageJson(int prompt_tokens, int cached_tokens, int completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

ChunkWriter::ChunkWriter(std::string id, std::string model, int64_t created, std::set<std::string> declared)
    : id_(std::move(id)), model_(std::move(model)), created_(created), declared_(std::move(declared)) {}

json ChunkWriter::Chunk(json delta, const json& finish_reason) const {
  return {{"id", id_},
          {"object", "chat.completion.chunk"},
          {"created", created_},
          {"model", model_},
          {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr},
                                    {"finish_reason", finish_reason}}})}};
}

json ChunkWriter::RoleChunk() const { return Chunk({{"role", "assistant"}, {"content", ""}}, nullptr); }

json ChunkWriter::EventChunk(const OutputEvent& e) {
  switch (e.type) {
    case OutputEventType::kReasoningDelta:
      return e.text.empty() ? json() : Chunk({{"reasoning_content", e.text}}, nullptr);
    case OutputEventType::kContentDelta:
      return e.text.empty() ? json() : Chunk({{"content", e.text}}, nullptr);
    case OutputEventType::kToolCallBegin: {
      if (!declared_.empty() && declared_.count(e.text) == 0) {
        skipped_tools_.insert(e.tool_index);
        return json();
      }
      const int index = static_cast<int>(public_index_.size());
      public_index_[e.tool_index] = index;
      json call = {{"index", index},
                   {"id", ToolCallId(id_, index)},
                   {"type", "function"},
                   {"function", {{"name", e.text}, {"arguments", ""}}}};
      return Chunk({{"tool_calls", json::array({call})}}, nullptr);
    }
    case OutputEventType::kToolCallArgumentsDelta: {
      const auto it = public_index_.find(e.tool_index);
      if (it == public_index_.end() || e.text.empty()) return json();
      json call = {{"index", it->second}, {"function", {{"arguments", e.text}}}};
      return Chunk({{"tool_calls", json::array({call})}}, nullptr);
    }
    default:
      return json();
  }
}

json ChunkWriter::FinalChunk(const std::string& finish_reason) const { return Chunk(json::object(), finish_reason); }

json ChunkWriter::UsageChunk(const json& usage) const {
  return {{"id", id_},
          {"object", "chat.completion.chunk"},
          {"created", created_},
          {"model", model_},
          {"choices", json::array()},
          {"usage", usage}};
}

std::string NewId(const std::string& prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string id = prefix + "-";
  for (int i = 0; i < 24; ++i) id += hex[rng() & 15];
  return id;
}

std::string ToolCallId(const std::string& completion_id, int index) {
  return Concat("call_", completion_id.substr(completion_id.find('-') + 1, 16), "_", index);
}

}  // namespace g4
