// The official Gemma 4 chat template (2026-07-09 revision, spec/gemma4-io.md §3.5) in C++.
//
// The template is Jinja run by Python, so its exact output depends on Python/Jinja semantics:
// `| trim` strips Unicode whitespace, `dictsort` sorts keys case-insensitively, `{{ x }}` prints
// None as "None" and floats as Python's repr, and looking up a missing key (or a key of a
// non-mapping) yields an empty "undefined". The helpers below reproduce those rules so that the
// prompt is byte-identical to what Hugging Face renders. Deviations are marked "DEVIATION".
#include "chat/chat_template.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

#include "base/error.h"

namespace g4 {
namespace {

using nlohmann::json;

constexpr std::string_view kQuote = "<|\"|>";  // Gemma's string delimiter token

// The prompt being rendered: template markup appended as to any string, request-supplied text
// through User(), which records where it went (input marking, see RenderedPrompt).
struct PromptText : std::string {
  std::vector<TextSpan> user;
  std::vector<std::string> media_sources;
  void Media(const ContentPart& part);
  void User(std::string_view text) {
    if (text.empty()) return;
    if (!user.empty() && user.back().end == size()) user.back().end += text.size();
    else user.push_back({size(), size() + text.size()});
    append(text);
  }
};

// ---- Python / Jinja value semantics ------------------------------------------------------------

// Decodes the UTF-8 code point at s[i] (lenient: a bad byte counts as one code point).
char32_t DecodeAt(std::string_view s, size_t i, size_t* len) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 1;
  if (i + n > s.size()) n = 1;
  char32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
  for (size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) {
      n = 1;
      cp = b;
      break;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  *len = n;
  return cp;
}

// Python's str.isspace(), which `| trim` (str.strip()) uses.
bool IsPySpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string PyStrip(std::string_view s) {
  size_t begin = 0;
  while (begin < s.size()) {
    size_t len;
    if (!IsPySpace(DecodeAt(s, begin, &len))) break;
    begin += len;
  }
  size_t end = s.size();
  while (end > begin) {
    size_t start = end - 1;  // back up to the lead byte of the last code point
    while (start > begin && end - start < 4 &&
           (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
      --start;
    size_t len;
    const char32_t c = DecodeAt(s, start, &len);
    if (start + len != end || !IsPySpace(c)) break;
    end = start;
  }
  return std::string(s.substr(begin, end - begin));
}

// Python's repr(float): shortest round-trip digits, fixed notation for exponents in [-4, 16).
std::string PyFloat(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  const size_t e_pos = sci.find('e');
  std::string sign, digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c == '-') sign = "-";
    else if (c != '.') digits += c;
  }
  const int exp = std::stoi(std::string(sci.substr(e_pos + 1)));
  if (exp >= -4 && exp < 16) {
    std::string out = sign;
    if (exp >= 0) {
      std::string int_part = digits.substr(0, std::min<size_t>(digits.size(), exp + 1));
      int_part.append(static_cast<size_t>(exp + 1) - int_part.size(), '0');
      const size_t n_int = static_cast<size_t>(exp + 1);
      const std::string frac = digits.size() > n_int ? digits.substr(n_int) : "0";
      return out + int_part + "." + frac;
    }
    return out + "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  }
  std::string out = sign + digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  const int a = std::abs(exp);
  return out + (exp < 0 ? "e-" : "e+") + (a < 10 ? "0" : "") + std::to_string(a);
}

std::string PyNumber(const json& v) {
  if (v.is_number_float()) return PyFloat(v.get<double>());
  return v.dump();  // integers print the same in JSON and Python
}

std::string PyRepr(const json& v);

// Python's repr(str): single quotes unless the text has ' and no ".
std::string PyStringRepr(const std::string& s) {
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xF];
      out += kHex[static_cast<unsigned char>(c) & 0xF];
    } else {
      out += c;
    }
  }
  return out + q;
}

std::string PyRepr(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "None";
    case json::value_t::boolean: return v.get<bool>() ? "True" : "False";
    case json::value_t::string: return PyStringRepr(v.get<std::string>());
    case json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + PyRepr(v[i]);
      return out + "]";
    }
    case json::value_t::object: {
      // Python keeps insertion order; nlohmann::json does not keep it. Only reachable through
      // odd schemas (a mapping where a string belongs), so byte order is good enough.
      std::string out = "{";
      bool first = true;
      for (const auto& [k, item] : v.items()) {
        out += (first ? "" : ", ") + PyStringRepr(k) + ": " + PyRepr(item);
        first = false;
      }
      return out + "}";
    }
    default: return PyNumber(v);
  }
}

// What `{{ x }}` prints: strings raw, everything else as Python's str().
std::string PyStr(const json& v) { return v.is_string() ? v.get<std::string>() : PyRepr(v); }

// `{{ x }}` of a possibly undefined value (nullptr): undefined prints nothing.
std::string Print(const json* v) { return v ? PyStr(*v) : std::string(); }

// `x | upper` (ASCII upper-casing; type names are ASCII).
std::string Upper(const json* v) {
  std::string s = Print(v);
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

// Jinja truthiness; nullptr is "undefined".
bool Truthy(const json* v) {
  if (v == nullptr || v->is_null()) return false;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_number()) return v->get<double>() != 0.0;
  // (json::empty() is false for every string, hence the explicit test)
  if (v->is_string()) return !v->get_ref<const std::string&>().empty();
  if (v->is_array() || v->is_object()) return !v->empty();
  return true;
}

// `value['key']`: undefined (nullptr) unless value is a mapping holding the key.
const json* Get(const json& v, const char* key) {
  if (!v.is_object()) return nullptr;
  const auto it = v.find(key);
  return it == v.end() ? nullptr : &*it;
}

// `mapping | dictsort`: keys compared case-insensitively (Jinja's default). Python's stable sort
// would keep insertion order for keys equal up to case; nlohmann::json stores keys in byte
// order, which is used to break such ties.
std::vector<std::pair<std::string, const json*>> DictSort(const json& obj) {
  std::vector<std::pair<std::string, const json*>> items;
  for (const auto& [k, v] : obj.items()) items.emplace_back(k, &v);
  auto lower = [](std::string s) {
    for (char& c : s)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
  };
  std::stable_sort(items.begin(), items.end(),
                   [&](const auto& a, const auto& b) { return lower(a.first) < lower(b.first); });
  return items;
}

// Iterates a list the template loops over; anything else is a malformed request.
const json& RequireArray(const json& v, const std::string& where) {
  if (!v.is_array()) Fail(where, ": expected an array, got ", v.type_name());
  return v;
}

// ---- Template macros ---------------------------------------------------------------------------

// Macro format_argument: Gemma's value syntax.
void FormatArgument(const json& v, bool escape_keys, PromptText& out) {
  switch (v.type()) {
    case json::value_t::null: out += "null"; return;
    case json::value_t::string:
      out += kQuote;
      out.User(v.get_ref<const std::string&>());
      out += kQuote;
      return;
    case json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return;
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, value] : DictSort(v)) {
        if (!first) out += ',';
        first = false;
        if (escape_keys) out += kQuote;
        out.User(key);
        if (escape_keys) out += kQuote;
        out += ':';
        FormatArgument(*value, escape_keys, out);
      }
      out += '}';
      return;
    }
    case json::value_t::array:
      out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ',';
        FormatArgument(v[i], escape_keys, out);
      }
      out += ']';
      return;
    default: out += PyNumber(v); return;
  }
}

void FormatRequired(const json& list, const std::string& where, PromptText& out) {
  out += "required:[";
  const json& arr = RequireArray(list, where);
  for (size_t i = 0; i < arr.size(); ++i) {
    if (i) out += ',';
    out += kQuote;
    out.User(PyStr(arr[i]));
    out += kQuote;
  }
  out += ']';
}

// Macro format_parameters: the properties of an object schema. With filter_keys, `properties`
// is a property schema itself whose non-standard keys are rendered as if they were properties
// (what the template does for an OBJECT without "properties").
void FormatParameters(const json& properties, bool filter_keys, const std::string& where,
                      PromptText& out) {
  static const std::string_view kStandardKeys[] = {"description", "type", "properties", "required",
                                                    "nullable"};
  bool found_first = false;
  for (const auto& [key, value_ptr] : DictSort(properties)) {
    if (filter_keys && std::find(std::begin(kStandardKeys), std::end(kStandardKeys), key) !=
                           std::end(kStandardKeys))
      continue;
    const json& value = *value_ptr;
    const std::string path = where + "." + key;
    if (found_first) out += ',';
    found_first = true;
    out.User(key);
    out += ":{";
    bool add_comma = false;
    auto comma = [&] {
      if (add_comma) out += ',';
      add_comma = true;
    };
    if (const json* d = Get(value, "description"); Truthy(d)) {
      out.append("description:").append(kQuote);
      out.User(PyStr(*d));
      out += kQuote;
      add_comma = true;
    }
    const std::string type = Upper(Get(value, "type"));
    if (type == "STRING") {
      if (const json* e = Get(value, "enum"); Truthy(e)) {
        comma();
        out += "enum:";
        FormatArgument(*e, true, out);
      }
    } else if (type == "ARRAY") {
      const json* items = Get(value, "items");
      if (items && items->is_object() && !items->empty()) {
        comma();
        out += "items:{";
        bool items_first = true;
        for (const auto& [item_key, item_value] : DictSort(*items)) {
          if (item_value->is_null()) continue;
          if (!items_first) out += ',';
          items_first = false;
          if (item_key == "properties") {
            out += "properties:{";
            if (item_value->is_object())
              FormatParameters(*item_value, false, path + ".items.properties", out);
            out += '}';
          } else if (item_key == "required") {
            FormatRequired(*item_value, path + ".items.required", out);
          } else if (item_key == "type") {
            out += "type:";
            if (item_value->is_string()) {
              FormatArgument(json(Upper(item_value)), true, out);
            } else {  // `map('upper') | list` over e.g. ["string", "null"]
              json upper = json::array();
              for (const json& t : RequireArray(*item_value, path + ".items.type"))
                upper.push_back(Upper(&t));
              FormatArgument(upper, true, out);
            }
          } else {
            out.User(item_key);
            out += ":";
            FormatArgument(*item_value, true, out);
          }
        }
        out += '}';
      }
    }
    if (Truthy(Get(value, "nullable"))) {
      comma();
      out += "nullable:true";
    }
    if (type == "OBJECT") {
      const json* props = Get(value, "properties");
      if (props && props->is_object()) {
        comma();
        out += "properties:{";
        FormatParameters(*props, false, path + ".properties", out);
        out += '}';
      } else if (value.is_object()) {
        comma();
        out += "properties:{";
        FormatParameters(value, true, path, out);
        out += '}';
      }
      if (const json* req = Get(value, "required"); Truthy(req)) {
        comma();
        FormatRequired(*req, path + ".required", out);
      }
    }
    comma();
    out.append("type:").append(kQuote);
    out.User(type);
    out.append(kQuote).append("}");
  }
}

// The function object of a tool: OpenAI's {type:"function", function:{…}}, or a bare
// {name, description, parameters} (accepted for convenience; the template needs the wrapper).
const json& ToolFunction(const json& tool, const std::string& where) {
  if (!tool.is_object()) Fail(where, ": expected an object, got ", tool.type_name());
  if (const json* type = Get(tool, "type"); type && !(type->is_string() && *type == "function"))
    Fail(where, ".type: only \"function\" tools are supported, got ", type->dump());
  if (const json* fn = Get(tool, "function")) {
    if (!fn->is_object()) Fail(where, ".function: expected an object, got ", fn->type_name());
    return *fn;
  }
  if (Get(tool, "name")) return tool;
  Fail(where, ".function: missing");
}

// Macro format_function_declaration.
void FormatDeclaration(const json& tool, const std::string& where, PromptText& out) {
  const json& fn = ToolFunction(tool, where);
  const std::string fwhere = where + (Get(tool, "function") ? ".function" : "");
  const json* name = Get(fn, "name");
  if (!name || !name->is_string() || name->get_ref<const std::string&>().empty())
    Fail(fwhere, ".name: expected a non-empty string");
  out.append("declaration:");
  out.User(name->get<std::string>());
  out.append("{description:").append(kQuote);
  out.User(Print(Get(fn, "description")));
  out += kQuote;
  const json* params = Get(fn, "parameters");
  if (Truthy(params)) {
    if (!params->is_object())
      Fail(fwhere, ".parameters: expected an object, got ", params->type_name());
    out += ",parameters:{";
    if (const json* props = Get(*params, "properties"); Truthy(props)) {
      if (!props->is_object())
        Fail(fwhere, ".parameters.properties: expected an object, got ", props->type_name());
      out += "properties:{";
      FormatParameters(*props, false, fwhere + ".parameters.properties", out);
      out += "},";
    }
    if (const json* req = Get(*params, "required"); Truthy(req)) {
      FormatRequired(*req, fwhere + ".parameters.required", out);
      out += ',';
    }
    // Faithful to the template: without a "type" the parameters block is left unclosed.
    if (const json* type = Get(*params, "type"); Truthy(type)) {
      out.append("type:").append(kQuote);
      out.User(Upper(type));
      out.append(kQuote).append("}");
    }
  }
  if (const json* response = Get(fn, "response")) {
    out += ",response:{";
    if (const json* d = Get(*response, "description"); Truthy(d)) {
      out.append("description:").append(kQuote);
      out.User(PyStr(*d));
      out.append(kQuote).append(",");
    }
    if (Upper(Get(*response, "type")) == "OBJECT")
      out.append("type:").append(kQuote).append("OBJECT").append(kQuote).append("}");
  }
  out += '}';
}

// Macro strip_thinking: drops every <|channel>…<channel|> span of earlier model output.
std::string StripThinking(std::string_view text) {
  std::string result;
  size_t pos = 0;
  while (true) {
    const size_t close = text.find("<channel|>", pos);
    const std::string_view part =
        text.substr(pos, close == std::string_view::npos ? close : close - pos);
    result += part.substr(0, part.find("<|channel>"));
    if (close == std::string_view::npos) break;
    pos = close + std::string_view("<channel|>").size();
  }
  return PyStrip(result);
}

// Macro format_tool_response_block.
void ToolResponseBlock(const std::string& name, const json& response, PromptText& out) {
  out += "<|tool_response>response:";
  out.User(name);
  out += "{";
  if (response.is_object()) {
    bool first = true;
    for (const auto& [key, value] : DictSort(response)) {
      if (!first) out += ',';
      first = false;
      out.User(key);
      out += ":";
      FormatArgument(*value, false, out);
    }
  } else {
    out += "value:";
    FormatArgument(response, false, out);
  }
  out += "}<tool_response|>";
}

const char* Placeholder(ContentPartType type) {
  switch (type) {
    case ContentPartType::kImage: return "<|image|>";
    case ContentPartType::kAudio: return "<|audio|>";
    case ContentPartType::kVideo: return "<|video|>";
    default: return "";
  }
}

void PromptText::Media(const ContentPart& part) {
  append(Placeholder(part.type));
  media_sources.push_back(part.source);
}

// A tool message's result, folded into the assistant turn it answers.
void RenderToolMessage(const ChatMessage& tool, const std::string& name,
                       const RenderOptions& options, PromptText& out) {
  if (const auto* s = std::get_if<std::string>(&tool.content)) {
    if (options.parse_tool_results_as_json) {
      json parsed = json::parse(*s, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_object()) return ToolResponseBlock(name, parsed, out);
    }
    return ToolResponseBlock(name, json(*s), out);
  }
  if (const auto* parts = std::get_if<std::vector<ContentPart>>(&tool.content)) {
    std::string text;  // text parts are concatenated untrimmed, media follow the block
    for (const ContentPart& p : *parts)
      if (p.type == ContentPartType::kText) text += p.text;
    ToolResponseBlock(name, json(text), out);
    for (const ContentPart& p : *parts) {
      if (p.type != ContentPartType::kText) out.Media(p);
    }
    return;
  }
  ToolResponseBlock(name, json(nullptr), out);
}

// Appends the rendered content of a loop message ("captured_content").
void RenderContent(const ChatMessage& m, PromptText& out) {
  const bool model = m.role == ChatRole::kAssistant;
  if (const auto* s = std::get_if<std::string>(&m.content)) return out.User(model ? StripThinking(*s) : PyStrip(*s));
  if (const auto* parts = std::get_if<std::vector<ContentPart>>(&m.content)) {
    for (const ContentPart& p : *parts) {
      if (p.type == ContentPartType::kText) out.User(model ? StripThinking(p.text) : PyStrip(p.text));
      else out.Media(p);
    }
  }
}

const char* TurnRole(ChatRole role) {
  switch (role) {
    case ChatRole::kSystem: return "system";
    case ChatRole::kUser: return "user";
    case ChatRole::kAssistant: return "model";
    default: return "tool";
  }
}

}  // namespace

void ValidateOpenAiTools(const json& tools) {
  if (tools.is_null()) return;
  PromptText scratch;
  const json& arr = RequireArray(tools, "tools");
  for (size_t i = 0; i < arr.size(); ++i)
    FormatDeclaration(arr[i], Concat("tools[", i, "]"), scratch);
}

std::string RenderChat(const std::vector<ChatMessage>& messages, const json& tools,
                       const RenderOptions& options) {
  return RenderChatMarked(messages, tools, options).text;
}

RenderedPrompt RenderChatMarked(const std::vector<ChatMessage>& messages, const json& tools,
                                const RenderOptions& options) {
  enum class Last { kNone, kThink, kTools, kToolCall, kToolResponse };
  Last prev_type = Last::kNone;
  PromptText out;
  out += "<bos>";

  const bool has_tools = Truthy(&tools);
  if (has_tools) RequireArray(tools, "tools");
  const bool leading_system = !messages.empty() && messages[0].role == ChatRole::kSystem;
  size_t first = 0;
  if (options.enable_thinking || has_tools || leading_system) {
    out += "<|turn>system\n";
    if (options.enable_thinking) {
      out += "<|think|>\n";
      prev_type = Last::kThink;
    }
    if (leading_system) {
      const ChatMessage& sys = messages[0];
      if (const auto* s = std::get_if<std::string>(&sys.content)) {
        out.User(PyStrip(*s));
      } else if (const auto* parts = std::get_if<std::vector<ContentPart>>(&sys.content)) {
        // Faithful to the template: every part adds its trimmed text and one space; media parts
        // have no text and add only the space.
        for (const ContentPart& p : *parts) {
          if (p.type == ContentPartType::kText) out.User(PyStrip(p.text));
          out += " ";
        }
      }
      first = 1;
    }
    if (has_tools) {
      for (size_t i = 0; i < tools.size(); ++i) {
        out += "<|tool>";
        FormatDeclaration(tools[i], Concat("tools[", i, "]"), out);
        out += "<tool|>";
      }
      prev_type = Last::kTools;
    }
    out += "<turn|>\n";
  }

  // Reasoning is only kept for messages after the last user message (the agentic exception).
  std::ptrdiff_t last_user = -1;
  for (size_t i = first; i < messages.size(); ++i)
    if (messages[i].role == ChatRole::kUser) last_user = static_cast<std::ptrdiff_t>(i);

  bool prev_was_assistant = false;  // the previous non-tool message was an assistant message
  bool tool_messages_allowed = false;  // tool messages here answer the preceding tool calls
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == ChatRole::kTool) {
      // DEVIATION: the template silently drops tool messages that do not follow an assistant
      // message with tool_calls; the OpenAI API rejects them, and so do we.
      if (!tool_messages_allowed)
        Fail("messages[", i, "]: a tool message must follow an assistant message with tool_calls");
      continue;
    }
    prev_type = Last::kNone;
    const bool model = m.role == ChatRole::kAssistant;
    // DEVIATION: a "developer" message that is not the first one renders as a system turn (the
    // template would write a "<|turn>developer" header the model was never trained on).
    if (!(model && prev_was_assistant)) out += std::string("<|turn>") + TurnRole(m.role) + "\n";

    const bool gate = static_cast<std::ptrdiff_t>(i) > last_user ||
                      (options.preserve_thinking && !m.tool_calls.empty());
    if (!m.reasoning.empty() && gate) {
      out += "<|channel>thought\n";
      out.User(m.reasoning);
      out += "\n<channel|>";
    }

    for (size_t j = 0; j < m.tool_calls.size(); ++j) {
      const ToolCall& call = m.tool_calls[j];
      out += "<|tool_call>call:";
      out.User(call.name);
      out += "{";
      if (call.arguments.is_object()) {
        bool first_arg = true;
        for (const auto& [key, value] : DictSort(call.arguments)) {
          if (!first_arg) out += ',';
          first_arg = false;
          out.User(key);
          out += ":";
          FormatArgument(*value, false, out);
        }
      } else if (!call.arguments.is_null()) {
        Fail("messages[", i, "].tool_calls[", j,
             "].function.arguments: must be a JSON object, got ", call.arguments.type_name());
      }
      out += "}<tool_call|>";
    }
    if (!m.tool_calls.empty()) prev_type = Last::kToolCall;

    bool results_out = false;
    tool_messages_allowed = false;
    if (!m.tool_responses.empty()) {
      for (const ToolResponse& r : m.tool_responses)
        ToolResponseBlock(r.name.empty() ? "unknown" : r.name, r.response, out);
      results_out = true;
      prev_type = Last::kToolResponse;
    } else if (!m.tool_calls.empty()) {
      tool_messages_allowed = true;
      for (size_t k = i + 1; k < messages.size() && messages[k].role == ChatRole::kTool; ++k) {
        const ChatMessage& follow = messages[k];
        std::string name = follow.name.empty() ? "unknown" : follow.name;
        for (const ToolCall& tc : m.tool_calls)  // last match wins, as in the template
          if (tc.id == follow.tool_call_id) name = tc.name;
        RenderToolMessage(follow, name, options, out);
        results_out = true;
        prev_type = Last::kToolResponse;
      }
    }

    const size_t content_begin = out.size();
    RenderContent(m, out);
    const bool has_content = !PyStrip(std::string_view(out).substr(content_begin)).empty();

    const ChatMessage* next = nullptr;  // next non-tool message
    for (size_t j = i + 1; j < messages.size() && !next; ++j)
      if (messages[j].role != ChatRole::kTool) next = &messages[j];
    const bool continues_into_next = model && next && next->role == ChatRole::kAssistant &&
                                     (m.tool_calls.empty() || results_out);
    if (prev_type == Last::kToolCall && !results_out) {
      out += "<|tool_response>";  // what the model generated as its stop token
    } else if (continues_into_next) {
      // the next assistant message continues this model turn
    } else if (!(results_out && !has_content && !next)) {
      out += "<turn|>\n";
    }  // else: the turn stays open for the model to continue after the tool results
    prev_was_assistant = model;
  }

  if (options.add_generation_prompt) {
    // DEVIATION (llama.cpp's safety rule, spec §3.5): after a closed turn always open a model
    // turn. The template writes nothing there when the last message holds tool results and
    // content, leaving a prompt the model cannot continue.
    const bool closed = out.size() >= 8 && out.compare(out.size() - 8, 8, "<turn|>\n") == 0;
    if ((prev_type != Last::kToolResponse && prev_type != Last::kToolCall) ||
        (prev_type == Last::kToolResponse && closed)) {
      out += "<|turn>model\n";
      if (options.size_class == ModelSizeClass::kLarge && !options.enable_thinking)
        out += "<|channel>thought\n<channel|>";
    } else if (prev_type == Last::kToolResponse && options.enable_thinking) {
      out += "<|channel>thought\n";
    }
  }
  RenderedPrompt rendered;
  rendered.user = std::move(out.user);
  rendered.media_sources = std::move(out.media_sources);
  rendered.text = std::move(out);
  return rendered;
}

namespace {

// Optional string field: absent or null -> nullopt.
std::optional<std::string> OptString(const json& obj, const char* key, const std::string& where) {
  const json* v = Get(obj, key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) Fail(where, ".", key, ": expected a string, got ", v->type_name());
  return v->get<std::string>();
}

ContentPartType PartTypeOf(const std::string& type, const std::string& where) {
  if (type == "text") return ContentPartType::kText;
  if (type == "image_url" || type == "image") return ContentPartType::kImage;
  if (type == "input_audio" || type == "audio") return ContentPartType::kAudio;
  // The template knows only "video"; the others are the names clients use for video parts.
  if (type == "video" || type == "video_url" || type == "input_video")
    return ContentPartType::kVideo;
  Fail(where, ".type: unsupported content part type \"", type,
       "\" (expected text, image_url, image, input_audio, audio, video, video_url or input_video)");
}

ChatContent ParseContent(const json& msg, const std::string& where) {
  const json* c = Get(msg, "content");
  if (!c || c->is_null()) return std::monostate{};
  if (c->is_string()) return c->get<std::string>();
  if (!c->is_array())
    Fail(where, ".content: expected a string, an array of parts or null, got ", c->type_name());
  std::vector<ContentPart> parts;
  for (size_t j = 0; j < c->size(); ++j) {
    const json& part = (*c)[j];
    const std::string pwhere = Concat(where, ".content[", j, "]");
    if (!part.is_object()) Fail(pwhere, ": expected an object, got ", part.type_name());
    const std::optional<std::string> type = OptString(part, "type", pwhere);
    if (!type) Fail(pwhere, ".type: missing");
    ContentPart p;
    p.type = PartTypeOf(*type, pwhere);
    p.source = pwhere;
    if (p.type == ContentPartType::kText) {
      const std::optional<std::string> text = OptString(part, "text", pwhere);
      if (!text) Fail(pwhere, ".text: missing");
      p.text = *text;
    }
    parts.push_back(std::move(p));
  }
  return parts;
}

ToolCall ParseToolCall(const json& tc, const std::string& where) {
  if (!tc.is_object()) Fail(where, ": expected an object, got ", tc.type_name());
  ToolCall call;
  call.id = OptString(tc, "id", where);
  if (const auto type = OptString(tc, "type", where); type && *type != "function")
    Fail(where, ".type: only \"function\" tool calls are supported, got \"", *type, "\"");
  const json* fn = Get(tc, "function");
  if (!fn || !fn->is_object()) Fail(where, ".function: expected an object");
  const std::optional<std::string> name = OptString(*fn, "name", where + ".function");
  if (!name || name->empty()) Fail(where, ".function.name: expected a non-empty string");
  call.name = *name;
  const json* args = Get(*fn, "arguments");
  if (!args || args->is_null()) {
    call.arguments = nullptr;
  } else if (args->is_object()) {
    call.arguments = *args;
  } else if (args->is_string()) {
    // OpenAI sends arguments as JSON text; the 2026-07 template needs the decoded object.
    // An empty string means "no arguments", as some clients send for argument-less calls.
    const std::string& text = args->get_ref<const std::string&>();
    if (PyStrip(text).empty()) {
      call.arguments = nullptr;
    } else {
      try {
        call.arguments = json::parse(text);
      } catch (const json::exception& e) {
        Fail(where, ".function.arguments: not valid JSON (", e.what(), ")");
      }
      if (!call.arguments.is_object() && !call.arguments.is_null())
        Fail(where, ".function.arguments: must encode a JSON object, got ",
             call.arguments.type_name());
    }
  } else {
    Fail(where, ".function.arguments: expected a JSON object or a string holding one, got ",
         args->type_name());
  }
  return call;
}

}  // namespace

std::vector<ChatMessage> ParseOpenAiMessages(const json& messages) {
  if (!messages.is_array()) Fail("messages: expected an array, got ", messages.type_name());
  std::vector<ChatMessage> out;
  out.reserve(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& msg = messages[i];
    const std::string where = Concat("messages[", i, "]");
    if (!msg.is_object()) Fail(where, ": expected an object, got ", msg.type_name());
    const std::optional<std::string> role = OptString(msg, "role", where);
    if (!role) Fail(where, ".role: missing");
    ChatMessage m;
    if (*role == "system" || *role == "developer") m.role = ChatRole::kSystem;
    else if (*role == "user") m.role = ChatRole::kUser;
    else if (*role == "assistant" || *role == "model") m.role = ChatRole::kAssistant;
    else if (*role == "tool") m.role = ChatRole::kTool;
    else
      Fail(where, ".role: unknown role \"", *role,
           "\" (expected system, developer, user, assistant or tool)");
    m.content = ParseContent(msg, where);

    // The template reads `reasoning or reasoning_content`.
    const std::optional<std::string> reasoning = OptString(msg, "reasoning", where);
    const std::optional<std::string> reasoning_content = OptString(msg, "reasoning_content", where);
    m.reasoning = reasoning && !reasoning->empty() ? *reasoning : reasoning_content.value_or("");

    if (const json* calls = Get(msg, "tool_calls"); calls && !calls->is_null()) {
      if (!calls->is_array())
        Fail(where, ".tool_calls: expected an array, got ", calls->type_name());
      if (m.role != ChatRole::kAssistant && !calls->empty())
        Fail(where, ".tool_calls: only assistant messages can hold tool calls");
      for (size_t j = 0; j < calls->size(); ++j)
        m.tool_calls.push_back(ParseToolCall((*calls)[j], Concat(where, ".tool_calls[", j, "]")));
    }
    if (const json* responses = Get(msg, "tool_responses"); responses && !responses->is_null()) {
      if (!responses->is_array())
        Fail(where, ".tool_responses: expected an array, got ", responses->type_name());
      if (m.role != ChatRole::kAssistant && !responses->empty())
        Fail(where, ".tool_responses: only assistant messages can hold tool responses");
      for (size_t j = 0; j < responses->size(); ++j) {
        const json& r = (*responses)[j];
        const std::string rwhere = Concat(where, ".tool_responses[", j, "]");
        if (!r.is_object()) Fail(rwhere, ": expected an object, got ", r.type_name());
        ToolResponse tr;
        tr.name = OptString(r, "name", rwhere).value_or("");
        if (const json* resp = Get(r, "response")) tr.response = *resp;
        m.tool_responses.push_back(std::move(tr));
      }
    }
    m.tool_call_id = OptString(msg, "tool_call_id", where);
    m.name = OptString(msg, "name", where).value_or("");
    out.push_back(std::move(m));
  }
  return out;
}

bool PromptEndsInsideReasoning(const std::string& prompt) {
  constexpr std::string_view kOpen = "<|channel>thought\n";
  return prompt.size() >= kOpen.size() &&
         std::string_view(prompt).substr(prompt.size() - kOpen.size()) == kOpen;
}

}  // namespace g4
