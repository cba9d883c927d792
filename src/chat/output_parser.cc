// Streaming Gemma 4 output parser. Three layers, each a deterministic state machine over the
// bytes seen so far, which is what makes the result independent of how the text was split:
//   1. UTF-8 assembly: only complete code points go further (invalid bytes become U+FFFD), so
//      every delta is valid UTF-8 even when fed byte by byte.
//   2. Marker scanning (content / channel label / reasoning): at each '<' the parser waits until
//      it knows whether a marker starts there.
//   3. Tool calls: a transcoder from Gemma's call syntax to JSON text, one character at a time.
//      Its output only ever grows (commas are written lazily, repairs only append), so the JSON
//      text can be streamed as it is produced and still equals the final arguments.
#include "chat/output_parser.h"

#include <array>

namespace g4 {
namespace {

using nlohmann::json;

constexpr std::string_view kChannelOpen = "<|channel>";
constexpr std::string_view kChannelClose = "<channel|>";
constexpr std::string_view kCallOpen = "<|tool_call>";
constexpr std::string_view kCallClose = "<tool_call|>";
constexpr std::string_view kTurnEnd = "<turn|>";
constexpr std::string_view kToolResponse = "<|tool_response>";
constexpr std::string_view kEos = "<eos>";
constexpr std::string_view kQuote = "<|\"|>";
constexpr std::string_view kThought = "thought";
constexpr size_t kMaxDepth = 128;        // nesting of call arguments
constexpr size_t kMaxHeaderBytes = 512;  // "call:NAME" before '{'

// Markers outside tool calls. <|"|> is plain text there.
constexpr std::array<std::string_view, 7> kTextMarkers = {
    kChannelOpen, kChannelClose, kCallOpen, kCallClose, kTurnEnd, kToolResponse, kEos};
// Markers inside a tool call: the string delimiter, and the ones that end the call whatever
// state it is in (a call cannot hold them: the tokenizer makes them single tokens the model
// only writes as structure).
constexpr std::array<std::string_view, 6> kCallMarkers = {kQuote, kCallClose, kCallOpen,
                                                          kTurnEnd, kToolResponse, kEos};

OutputEvent Event(OutputEventType type, std::string text, int tool_index = -1) {
  OutputEvent e;
  e.type = type;
  e.text = std::move(text);
  e.tool_index = tool_index;
  return e;
}

bool IsWs(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view TrimWs(std::string_view s) {
  while (!s.empty() && IsWs(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsWs(s.back())) s.remove_suffix(1);
  return s;
}

// A full marker at the start of `rest`, or "maybe" while `rest` is a proper prefix of one.
struct MarkerMatch {
  std::string_view marker;  // empty: none
  bool partial = false;
};
template <size_t N>
MarkerMatch FindMarker(std::string_view rest, const std::array<std::string_view, N>& markers,
                       bool finishing) {
  MarkerMatch m;
  for (std::string_view marker : markers) {
    if (rest.substr(0, marker.size()) == marker) return {marker, false};
    if (!finishing && rest.size() < marker.size() && marker.substr(0, rest.size()) == rest)
      m.partial = true;
  }
  return m;
}

bool IsJsonNumber(std::string_view s) {
  size_t i = 0, n = s.size();
  auto digits = [&] {
    const size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < n && s[i] == '-') ++i;
  if (i < n && s[i] == '0') ++i;
  else if (!digits()) return false;
  if (i < n && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

void AppendJsonEscaped(std::string& out, char c) {
  switch (c) {
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        static const char* kHex = "0123456789abcdef";
        out += "\\u00";
        out += kHex[(c >> 4) & 0xF];
        out += kHex[c & 0xF];
      } else {
        out += c;
      }
  }
}

// Characters of an unquoted key.
bool IsBareKeyChar(char c) {
  return !IsWs(c) && c != ':' && c != ',' && c != '{' && c != '}' && c != '[' && c != ']' &&
         c != '"' && c != '\'' && c != '<';
}

// "call:NAME" -> NAME, or "" if it is not a usable function name. The "call:" prefix is optional
// (models sometimes drop it); names may hold '.', '-' and ':' (namespaced tools).
std::string NameFromHeader(std::string_view header) {
  std::string_view h = TrimWs(header);
  if (h.substr(0, 5) == "call:") h = TrimWs(h.substr(5));
  for (char c : h) {
    const auto u = static_cast<unsigned char>(c);
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.' || c == ':' || u >= 0x80;
    if (!ok) return "";
  }
  return std::string(h);
}

}  // namespace

struct OutputParser::Impl {
  enum class Mode { kContent, kLabel, kReasoning, kCall };
  enum class Call {
    kHeader,        // "call:NAME" up to '{'
    kKeyOrClose,    // after '{'
    kKey,           // after ',' in an object
    kBareKey,       // inside an unquoted key
    kGemmaKey,      // inside <|"|>key<|"|>
    kJsonKey,       // inside "key"
    kColon,         // key read, ':' expected
    kValueOrClose,  // after '['
    kValue,         // after ':' or ',' in an array
    kGemmaString,   // inside <|"|>…<|"|>
    kJsonString,    // inside "…" (JSON escapes)
    kSingleString,  // inside '…'
    kBare,          // unquoted number / literal / raw string
    kAfterValue,
    kDone,          // arguments closed, <tool_call|> expected
    kSkip,          // malformed: collecting raw text up to the end of the call
  };
  struct Frame {
    bool object;
    bool empty;
  };

  OutputParserOptions opt;
  ParsedOutput result;
  std::vector<OutputEvent> events;
  bool finishing = false;
  bool finished = false;

  // Layer 1: UTF-8 assembly.
  std::string utf8_seq;
  int utf8_need = 0;
  unsigned char utf8_lo = 0x80, utf8_hi = 0xBF;  // allowed range of the next continuation byte

  // Layer 2: complete text not yet consumed.
  std::string buf;
  size_t pos = 0;
  Mode mode = Mode::kContent;
  bool content_started = false;  // non-space content emitted
  std::string content_ws;        // spaces held until more content shows they are inner
  bool block_started = false;    // non-space reasoning emitted in this thought block
  std::string reasoning_ws;

  // Layer 3: the current tool call.
  Call state = Call::kHeader;
  std::string raw, header, name, args, token, error;
  std::vector<Frame> stack;
  bool begun = false, json_escape = false;
  int index = -1;
  size_t args_sent = 0;
  int next_index = 0;

  // ---- events ----
  void Push(OutputEvent e) {
    const bool delta = e.type == OutputEventType::kReasoningDelta ||
                       e.type == OutputEventType::kContentDelta ||
                       e.type == OutputEventType::kToolCallArgumentsDelta;
    if (delta && !events.empty() && events.back().type == e.type &&
        events.back().tool_index == e.tool_index) {
      events.back().text += e.text;
      return;
    }
    events.push_back(std::move(e));
  }

  void EmitContent(std::string_view text) {
    std::string out;
    for (char c : text) {
      if (IsWs(c)) {
        if (content_started) content_ws += c;
        continue;
      }
      out += content_ws;
      content_ws.clear();
      content_started = true;
      out += c;
    }
    if (out.empty()) return;
    result.content += out;
    Push(Event(OutputEventType::kContentDelta, std::move(out)));
  }

  void EmitReasoning(std::string_view text) {
    std::string out;
    for (char c : text) {
      if (IsWs(c)) {
        if (block_started) reasoning_ws += c;
        continue;
      }
      if (!block_started) {
        block_started = true;
        // Several thought blocks in one output are joined as paragraphs.
        if (!result.reasoning.empty()) out += "\n\n";
      }
      out += reasoning_ws;
      reasoning_ws.clear();
      out += c;
    }
    if (out.empty()) return;
    result.reasoning += out;
    Push(Event(OutputEventType::kReasoningDelta, std::move(out)));
  }

  void EmitText(std::string_view text) {
    if (mode == Mode::kReasoning) EmitReasoning(text);
    else EmitContent(text);
  }

  void EndReasoning() {
    reasoning_ws.clear();  // trailing spaces of a thought are dropped
    mode = Mode::kContent;
  }

  // ---- layer 1 ----
  void AppendByte(unsigned char b) {
    if (utf8_need > 0) {
      if (b >= utf8_lo && b <= utf8_hi) {
        utf8_seq += static_cast<char>(b);
        utf8_lo = 0x80;
        utf8_hi = 0xBF;
        if (--utf8_need == 0) {
          buf += utf8_seq;
          utf8_seq.clear();
        }
        return;
      }
      buf += "\xEF\xBF\xBD";  // the sequence broke off: U+FFFD, then read b afresh
      utf8_seq.clear();
      utf8_need = 0;
    }
    if (b < 0x80) {
      buf += static_cast<char>(b);
      return;
    }
    utf8_lo = 0x80;
    utf8_hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      utf8_need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      utf8_need = 2;
      if (b == 0xE0) utf8_lo = 0xA0;  // no overlong forms
      if (b == 0xED) utf8_hi = 0x9F;  // no surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      utf8_need = 3;
      if (b == 0xF0) utf8_lo = 0x90;
      if (b == 0xF4) utf8_hi = 0x8F;  // nothing above U+10FFFF
    } else {
      buf += "\xEF\xBF\xBD";
      return;
    }
    utf8_seq.assign(1, static_cast<char>(b));
  }

  // ---- layer 2 ----
  // Each Step returns false when it must wait for more text.
  bool StepText() {
    const size_t lt = buf.find('<', pos);
    if (lt == std::string::npos) {
      EmitText(std::string_view(buf).substr(pos));
      pos = buf.size();
      return true;
    }
    if (lt > pos) {
      EmitText(std::string_view(buf).substr(pos, lt - pos));
      pos = lt;
    }
    const MarkerMatch m = FindMarker(std::string_view(buf).substr(pos), kTextMarkers, finishing);
    if (m.marker.empty()) {
      if (m.partial) return false;
      EmitText("<");
      ++pos;
      return true;
    }
    pos += m.marker.size();
    if (m.marker == kChannelOpen) {
      if (mode == Mode::kContent) {
        block_started = false;
        reasoning_ws.clear();
      }  // else a repeated <|channel> inside a thought: the thought goes on, minus the label
      mode = Mode::kLabel;
    } else if (m.marker == kChannelClose) {
      if (mode == Mode::kReasoning) EndReasoning();  // a stray one in content is dropped
    } else if (m.marker == kCallOpen) {
      if (mode == Mode::kReasoning) EndReasoning();  // a call ends an unclosed thought
      StartCall();
    } else if (m.marker == kCallClose) {
      // A stray end of call (e.g. doubled after a call) is dropped.
    } else {  // <turn|>, <|tool_response>, <eos>
      if (mode == Mode::kReasoning) EndReasoning();
      if (result.stop.empty()) result.stop = std::string(m.marker);
      Push(Event(OutputEventType::kEndOfTurn, std::string(m.marker)));
    }
    return true;
  }

  // After <|channel>: drop the channel name "thought" (the following newline goes with the
  // reasoning's leading whitespace). Anything else is reasoning text as it stands.
  bool StepLabel() {
    const std::string_view rest = std::string_view(buf).substr(pos);
    if (rest.size() < kThought.size() + 1 && !finishing) {
      if (kThought.substr(0, rest.size()) == rest.substr(0, kThought.size()))
        return false;  // could still become "thought" + separator
    }
    const size_t n = kThought.size();
    if (rest.substr(0, n) == kThought && (rest.size() == n || IsWs(rest[n]) || rest[n] == '<'))
      pos += n;
    mode = Mode::kReasoning;
    return true;
  }

  // ---- layer 3 ----
  void StartCall() {
    mode = Mode::kCall;
    state = Call::kHeader;
    raw.assign(kCallOpen);
    header.clear();
    name.clear();
    args.clear();
    token.clear();
    error.clear();
    stack.clear();
    begun = false;
    json_escape = false;
    index = -1;
    args_sent = 0;
  }

  void Skip(std::string why) {
    if (state == Call::kSkip) return;
    state = Call::kSkip;
    error = std::move(why);
  }

  void Begin() {
    begun = true;
    index = next_index++;
    Push(Event(OutputEventType::kToolCallBegin, name, index));
  }

  void FlushArgs() {
    if (!begun || state == Call::kSkip || args.size() == args_sent) return;
    Push(Event(OutputEventType::kToolCallArgumentsDelta, args.substr(args_sent), index));
    args_sent = args.size();
  }

  void EmitError() {
    const std::string message = "malformed tool call: " + error;
    result.errors.push_back({message, raw});
    OutputEvent e = Event(OutputEventType::kError, raw, begun ? index : -1);
    e.message = message;
    Push(std::move(e));
  }

  void Complete() {
    ParsedToolCall call;
    call.name = name;
    call.arguments_json = args;
    try {
      call.arguments = json::parse(args);
    } catch (const json::exception& e) {  // not expected: the transcoder writes valid JSON
      Skip(std::string("arguments are not valid JSON: ") + e.what());
      return EmitError();
    }
    if (!begun) Begin();
    FlushArgs();
    OutputEvent e = Event(OutputEventType::kToolCallEnd, args, index);
    e.arguments = call.arguments;
    Push(std::move(e));
    result.tool_calls.push_back(std::move(call));
  }

  // Ends the current call: `closed` when <tool_call|> was seen, else it was cut off by another
  // marker or the end of the output.
  void FinishCall(bool closed) {
    if (state == Call::kHeader) {
      name = NameFromHeader(header);
      if (closed && !name.empty()) {  // "call:NAME" with no braces: a call without arguments
        args = "{}";
        state = Call::kDone;
      } else {
        Skip(name.empty() ? "no function name before '{'" : "the call ends before its arguments");
      }
    }
    if (state != Call::kDone && state != Call::kSkip) {
      if (closed) Repair();
      else Skip("the output ends inside the call's arguments");
    }
    if (state == Call::kSkip) EmitError();
    else Complete();
    mode = Mode::kContent;
  }

  // At <tool_call|> inside the arguments: close what is open. Only appends to `args`.
  void Repair() {
    switch (state) {
      case Call::kGemmaString: args += '"'; break;  // missing final <|"|>
      case Call::kSingleString: args += json(token).dump(); break;
      case Call::kJsonString: {
        const json s = json::parse("\"" + token + "\"", nullptr, false);
        if (!s.is_string()) return Skip("unterminated string");
        args += s.dump();
        break;
      }
      case Call::kBare:
        FinishBare();
        if (state == Call::kSkip) return;
        break;
      case Call::kValue:
        if (stack.back().object) args += "null";  // key written, value missing
        break;
      default: break;  // a pending key was never written; commas are written lazily
    }
    while (!stack.empty()) {
      args += stack.back().object ? '}' : ']';
      stack.pop_back();
    }
    state = Call::kDone;
  }

  void EmitKey(const std::string& key) {
    Frame& f = stack.back();
    if (!f.empty) args += ',';
    f.empty = false;
    args += json(key).dump();
    args += ':';
    state = Call::kValue;
  }

  // Commas between array elements are written only when the next element starts.
  void BeginValue() {
    Frame& f = stack.back();
    if (!f.object) {
      if (!f.empty) args += ',';
      f.empty = false;
    }
  }

  void PushFrame(bool object) {
    if (stack.size() >= kMaxDepth) return Skip("arguments nested too deeply");
    args += object ? '{' : '[';
    stack.push_back({object, true});
    state = object ? Call::kKeyOrClose : Call::kValueOrClose;
  }

  void Close(char c) {
    if (stack.empty() || stack.back().object != (c == '}'))
      return Skip(std::string("unbalanced '") + c + "'");
    args += c;
    stack.pop_back();
    state = stack.empty() ? Call::kDone : Call::kAfterValue;
  }

  void FinishBare() {
    const std::string_view t = TrimWs(token);
    if (t.empty()) return Skip("missing value");
    if (t == "true" || t == "false" || t == "null" || IsJsonNumber(t)) args += t;
    else if (t == "True") args += "true";  // Python spellings
    else if (t == "False") args += "false";
    else if (t == "None") args += "null";
    else args += json(std::string(t)).dump();  // an unquoted string value
    state = Call::kAfterValue;
  }

  // Decodes a "…" key or value read so far (JSON escapes).
  bool DecodeJsonString(std::string* out) {
    const json s = json::parse("\"" + token + "\"", nullptr, false);
    if (!s.is_string()) return false;
    *out = s.get<std::string>();
    return true;
  }

  // One character (or the <|"|> delimiter, quote=true) of a call.
  void CallChar(char c, bool quote) {
    switch (state) {
      case Call::kHeader:
        if (quote) return Skip("string delimiter in the function name");
        if (c != '{') {
          header += c;
          if (header.size() > kMaxHeaderBytes) Skip("function name too long");
          return;
        }
        name = NameFromHeader(header);
        if (name.empty()) return Skip("no function name before '{'");
        if (opt.stream_tool_arguments) Begin();
        return PushFrame(true);
      case Call::kKeyOrClose:
      case Call::kKey:
        if (quote) {
          token.clear();
          state = Call::kGemmaKey;
        } else if (IsWs(c)) {
        } else if (c == '}') {  // also tolerates a trailing comma
          Close('}');
        } else if (c == '"') {
          token.clear();
          json_escape = false;
          state = Call::kJsonKey;
        } else if (IsBareKeyChar(c)) {
          token.assign(1, c);
          state = Call::kBareKey;
        } else {
          Skip(std::string("unexpected '") + c + "' where a key belongs");
        }
        return;
      case Call::kBareKey:
        if (quote) return Skip("string delimiter inside a key");
        if (c == ':') return EmitKey(token);
        if (IsWs(c)) state = Call::kColon;
        else if (IsBareKeyChar(c)) token += c;
        else Skip(std::string("unexpected '") + c + "' inside a key");
        return;
      case Call::kGemmaKey:
        if (quote) state = Call::kColon;
        else token += c;
        return;
      case Call::kJsonKey:
      case Call::kJsonString: {
        const bool close = !quote && !json_escape && c == '"';
        if (!close) {
          if (quote) token += kQuote;
          // A raw newline is invalid in JSON text but plainly meant literally here.
          else if (!json_escape && static_cast<unsigned char>(c) < 0x20)
            AppendJsonEscaped(token, c);
          else token += c;
          json_escape = !quote && !json_escape && c == '\\';
          return;
        }
        std::string decoded;
        if (!DecodeJsonString(&decoded)) return Skip("bad escape in a quoted string");
        if (state == Call::kJsonKey) {
          token = decoded;
          state = Call::kColon;
        } else {
          args += json(decoded).dump();
          state = Call::kAfterValue;
        }
        return;
      }
      case Call::kColon:
        if (!quote && IsWs(c)) return;
        if (!quote && c == ':') return EmitKey(token);
        return Skip("expected ':' after a key");
      case Call::kValueOrClose:
      case Call::kValue:
        if (!quote && IsWs(c)) return;
        if (!quote && c == ']' && !stack.back().object) return Close(']');  // also a trailing comma
        if (!quote && (c == ',' || c == ':' || c == '}' || c == ']')) return Skip("missing value");
        BeginValue();
        if (quote) {
          args += '"';
          state = Call::kGemmaString;
        } else if (c == '{' || c == '[') {
          PushFrame(c == '{');
        } else if (c == '"') {
          token.clear();
          json_escape = false;
          state = Call::kJsonString;
        } else if (c == '\'') {
          token.clear();
          state = Call::kSingleString;
        } else {
          token.assign(1, c);
          state = Call::kBare;
        }
        return;
      case Call::kGemmaString:
        if (quote) {
          args += '"';
          state = Call::kAfterValue;
        } else {
          AppendJsonEscaped(args, c);
        }
        return;
      case Call::kSingleString:
        if (!quote && c == '\'') {
          args += json(token).dump();
          state = Call::kAfterValue;
        } else {
          token += quote ? std::string(kQuote) : std::string(1, c);
        }
        return;
      case Call::kBare:
        if (quote) return Skip("string delimiter inside an unquoted value");
        if (c == ',' || c == '}' || c == ']') {
          FinishBare();
          if (state == Call::kAfterValue) CallChar(c, false);
          return;
        }
        token += c;
        return;
      case Call::kAfterValue:
        if (!quote && IsWs(c)) return;
        if (!quote && c == ',') {
          state = stack.back().object ? Call::kKey : Call::kValue;
          return;
        }
        if (!quote && (c == '}' || c == ']')) return Close(c);
        return Skip("expected ',' or a closing bracket after a value");
      case Call::kDone:
        if (!quote && IsWs(c)) return;
        return Skip("text after the closing '}'");
      case Call::kSkip:
        return;
    }
  }

  bool StepCall() {
    const char c = buf[pos];
    if (c == '<') {
      const MarkerMatch m = FindMarker(std::string_view(buf).substr(pos), kCallMarkers, finishing);
      if (m.partial) return false;
      if (m.marker == kQuote) {
        raw += kQuote;
        pos += kQuote.size();
        CallChar('\0', true);
        return true;
      }
      if (m.marker == kCallClose) {
        raw += kCallClose;
        pos += kCallClose.size();
        FinishCall(true);
        return true;
      }
      if (!m.marker.empty()) {  // another call or the end of the turn: left for the text layer
        FinishCall(false);
        return true;
      }
    }
    // Plain bytes up to the next '<' in one go.
    const size_t end = std::min(buf.find('<', pos + 1), buf.size());
    for (size_t i = pos; i < end && mode == Mode::kCall; ++i) {
      raw += buf[i];
      CallChar(buf[i], false);
    }
    pos = end;
    return true;
  }

  void Process() {
    while (pos < buf.size()) {
      bool progressed = false;
      switch (mode) {
        case Mode::kContent:
        case Mode::kReasoning: progressed = StepText(); break;
        case Mode::kLabel: progressed = StepLabel(); break;
        case Mode::kCall: progressed = StepCall(); break;
      }
      if (!progressed) break;
    }
    buf.erase(0, pos);
    pos = 0;
    if (mode == Mode::kCall) FlushArgs();
  }
};

OutputParser::OutputParser(OutputParserOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->opt = options;
  if (options.starts_in_reasoning) impl_->mode = Impl::Mode::kReasoning;
}
OutputParser::~OutputParser() = default;
OutputParser::OutputParser(OutputParser&&) noexcept = default;
OutputParser& OutputParser::operator=(OutputParser&&) noexcept = default;

std::vector<OutputEvent> OutputParser::Feed(std::string_view text) {
  Impl& p = *impl_;
  if (p.finished) return {};
  for (char c : text) p.AppendByte(static_cast<unsigned char>(c));
  p.Process();
  return std::exchange(p.events, {});
}

std::vector<OutputEvent> OutputParser::Finish() {
  Impl& p = *impl_;
  if (p.finished) return {};
  if (p.utf8_need > 0) p.buf += "\xEF\xBF\xBD";  // output ended inside a UTF-8 sequence
  p.utf8_need = 0;
  p.finishing = true;
  p.Process();
  if (p.mode == Impl::Mode::kCall) p.FinishCall(false);
  if (p.mode == Impl::Mode::kLabel || p.mode == Impl::Mode::kReasoning) p.EndReasoning();
  p.content_ws.clear();  // trailing spaces of the answer are dropped
  p.finished = true;
  return std::exchange(p.events, {});
}

const ParsedOutput& OutputParser::result() const { return impl_->result; }

ParsedOutput ParseModelOutput(std::string_view text, OutputParserOptions options) {
  OutputParser parser(options);
  parser.Feed(text);
  parser.Finish();
  return parser.result();
}

}  // namespace g4
