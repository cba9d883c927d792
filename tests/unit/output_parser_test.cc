// Streaming Gemma 4 output parser (src/chat/output_parser.h): hand-written outputs with exact
// expected results, and a generated corpus of model outputs (thoughts, answers, 1-3 tool calls
// with nested arguments, unicode, escapes, repairable and malformed calls) each fed whole, byte
// by byte, split at every position, split twice, and in token-like and multi-token pieces; every
// way must give the same final result, the one the building blocks predict, and events that add
// up to it.
#include "chat/output_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace g4 {
namespace {

using nlohmann::json;

constexpr const char* kQ = "<|\"|>";

}  // namespace

// Readable failure output for EXPECT_EQ on results.
void PrintTo(const ParsedOutput& r, std::ostream* os) {
  json calls = json::array();
  for (const ParsedToolCall& c : r.tool_calls)
    calls.push_back({{"name", c.name}, {"arguments", c.arguments_json}});
  json errors = json::array();
  for (const OutputParseError& e : r.errors)
    errors.push_back({{"message", e.message}, {"raw", e.raw}});
  *os << json{{"reasoning", r.reasoning},
              {"content", r.content},
              {"tool_calls", calls},
              {"errors", errors},
              {"stop", r.stop}}
             .dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

bool ValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

// Replays the events of one parse and checks they add up to its result.
struct EventCheck {
  std::string reasoning, content;
  struct Call {
    std::string name, args;
    bool ended = false, voided = false;
    json arguments;
  };
  std::map<int, Call> calls;
  std::vector<int> end_order;
  size_t errors = 0;
  std::vector<std::string> stops;

  void Take(const std::vector<OutputEvent>& events) {
    for (const OutputEvent& e : events) {
      EXPECT_TRUE(ValidUtf8(e.text)) << e.text;
      switch (e.type) {
        case OutputEventType::kReasoningDelta:
          reasoning += e.text;
          break;
        case OutputEventType::kContentDelta:
          content += e.text;
          break;
        case OutputEventType::kToolCallBegin:
          ASSERT_EQ(calls.count(e.tool_index), 0u) << "index reused";
          calls[e.tool_index].name = e.text;
          break;
        case OutputEventType::kToolCallArgumentsDelta:
          ASSERT_EQ(calls.count(e.tool_index), 1u) << "arguments before begin";
          EXPECT_FALSE(calls[e.tool_index].ended);
          calls[e.tool_index].args += e.text;
          break;
        case OutputEventType::kToolCallEnd:
          ASSERT_EQ(calls.count(e.tool_index), 1u) << "end before begin";
          calls[e.tool_index].ended = true;
          calls[e.tool_index].arguments = e.arguments;
          EXPECT_EQ(calls[e.tool_index].args, e.text);
          end_order.push_back(e.tool_index);
          break;
        case OutputEventType::kError:
          ++errors;
          if (e.tool_index >= 0) {
            ASSERT_EQ(calls.count(e.tool_index), 1u);
            calls[e.tool_index].voided = true;
          }
          EXPECT_FALSE(e.message.empty());
          break;
        case OutputEventType::kEndOfTurn:
          stops.push_back(e.text);
          break;
      }
    }
  }

  void Verify(const ParsedOutput& r) {
    EXPECT_EQ(reasoning, r.reasoning);
    EXPECT_EQ(content, r.content);
    EXPECT_EQ(errors, r.errors.size());
    ASSERT_EQ(end_order.size(), r.tool_calls.size());
    for (size_t i = 0; i < end_order.size(); ++i) {
      const Call& c = calls[end_order[i]];
      EXPECT_FALSE(c.voided);
      EXPECT_EQ(c.name, r.tool_calls[i].name);
      EXPECT_EQ(c.args, r.tool_calls[i].arguments_json);
      EXPECT_EQ(c.arguments, r.tool_calls[i].arguments);
      EXPECT_EQ(json::parse(c.args), r.tool_calls[i].arguments);
    }
    for (const auto& [index, c] : calls)
      EXPECT_TRUE(c.ended != c.voided) << "call " << index << " left open";
    EXPECT_EQ(stops.empty() ? "" : stops.front(), r.stop);
  }
};

ParsedOutput Feed(const std::vector<std::string>& pieces, OutputParserOptions opt = {}) {
  OutputParser parser(opt);
  EventCheck check;
  for (const std::string& p : pieces) check.Take(parser.Feed(p));
  check.Take(parser.Finish());
  check.Verify(parser.result());
  return parser.result();
}

std::vector<std::string> Bytes(const std::string& s) {
  std::vector<std::string> out;
  for (char c : s) out.emplace_back(1, c);
  return out;
}

// Pieces the way a tokenizer cuts text: every special marker whole, other text in runs of 1-6
// bytes (possibly splitting UTF-8, as byte-fallback tokens do); with group > 1, several tokens
// per piece, as multi-token (MTP) decoding delivers them.
std::vector<std::string> TokenLike(const std::string& s, std::mt19937& rng, int group) {
  static const char* kMarkers[] = {"<|channel>", "<channel|>",       "<|tool_call>", "<tool_call|>",
                                   "<turn|>",    "<|tool_response>", "<eos>",        "<|\"|>"};
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 0;
    for (const char* m : kMarkers)
      if (s.compare(i, std::strlen(m), m) == 0) len = std::strlen(m);
    if (len == 0) {
      len = std::min<size_t>(1 + rng() % 6, s.size() - i);
      const size_t lt = s.find('<', i + 1);
      if (lt != std::string::npos && lt < i + len) len = lt - i;
    }
    tokens.push_back(s.substr(i, len));
    i += len;
  }
  std::vector<std::string> out;
  for (size_t t = 0; t < tokens.size();) {
    const size_t n = group > 1 ? 1 + rng() % group : 1;
    std::string piece;
    for (size_t k = 0; k < n && t < tokens.size(); ++k) piece += tokens[t++];
    out.push_back(piece);
  }
  return out;
}

// Feeds `text` every way and expects one result; returns it.
ParsedOutput ParseEveryWay(const std::string& text, OutputParserOptions opt = {},
                           bool all_pairs = false) {
  const ParsedOutput whole = Feed({text}, opt);
  OutputParserOptions other = opt;
  other.stream_tool_arguments = !opt.stream_tool_arguments;
  EXPECT_EQ(Feed({text}, other), whole) << "stream_tool_arguments changes the result";
  EXPECT_EQ(ParseModelOutput(text, opt), whole);
  EXPECT_EQ(Feed(Bytes(text), opt), whole) << "byte by byte";
  EXPECT_EQ(Feed(Bytes(text), other), whole) << "byte by byte, other streaming mode";
  for (size_t i = 0; i <= text.size(); ++i) {
    const ParsedOutput split = Feed({text.substr(0, i), text.substr(i)}, opt);
    EXPECT_EQ(split, whole) << "split at " << i << " of: " << text;
    if (split != whole) break;
  }
  for (size_t i = 0; all_pairs && i <= text.size(); ++i) {
    for (size_t j = i; j <= text.size(); ++j) {
      const ParsedOutput split =
          Feed({text.substr(0, i), text.substr(i, j - i), text.substr(j)}, opt);
      EXPECT_EQ(split, whole) << "split at " << i << "," << j << " of: " << text;
      if (split != whole) return whole;
    }
  }
  std::mt19937 rng(static_cast<uint32_t>(text.size()));
  for (int group : {1, 1, 3, 5})
    EXPECT_EQ(Feed(TokenLike(text, rng, group), opt), whole) << "token-like, group " << group;
  return whole;
}

// ---- hand-written outputs with exact results ---------------------------------------------------

TEST(OutputParser, LlamaCppToolCallCase) {
  const ParsedOutput r =
      ParseEveryWay(R"(<|tool_call>call:get_time{city:<|"|>London<|"|>}<tool_call|>)", {}, true);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].name, "get_time");
  EXPECT_EQ(r.tool_calls[0].arguments, json({{"city", "London"}}));
  EXPECT_EQ(r.tool_calls[0].arguments_json, R"({"city":"London"})");
  EXPECT_EQ(r.content, "");
  EXPECT_TRUE(r.errors.empty());
}

TEST(OutputParser, TypedNestedArgumentsOfTheSpec) {
  const ParsedOutput r = ParseEveryWay(
      R"(<|tool_call>call:search{exact:true,filters:{lang:<|"|>en<|"|>,max:3},none:null,query:<|"|>x "y"<|"|>,score:0.5,tags:[<|"|>a<|"|>,<|"|>b<|"|>]}<tool_call|><|tool_response>)");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(
      r.tool_calls[0].arguments_json,
      R"({"exact":true,"filters":{"lang":"en","max":3},"none":null,"query":"x \"y\"","score":0.5,"tags":["a","b"]})");
  EXPECT_EQ(r.stop, "<|tool_response>");
}

TEST(OutputParser, ThinkingThenAnswer) {
  const ParsedOutput r = ParseEveryWay(
      "<|channel>thought\nThe user adds.\n2+2=4.\n<channel|>\n\nThe answer is **4**.<turn|>");
  EXPECT_EQ(r.reasoning, "The user adds.\n2+2=4.");
  EXPECT_EQ(r.content, "The answer is **4**.");
  EXPECT_EQ(r.stop, "<turn|>");
}

TEST(OutputParser, EmptyAndStrayChannelMarkers) {
  ParsedOutput r = ParseEveryWay("<|channel>thought\n<channel|>Hello<turn|>");
  EXPECT_EQ(r.reasoning, "");
  EXPECT_EQ(r.content, "Hello");
  r = ParseEveryWay("Hello<channel|> there<channel|><turn|>");
  EXPECT_EQ(r.content, "Hello there");
  r = ParseEveryWay("<|channel>thought<channel|>x");  // label without newline
  EXPECT_EQ(r.reasoning, "");
  EXPECT_EQ(r.content, "x");
  r = ParseEveryWay("<|channel>thoughtful words<channel|>x");  // not the label
  EXPECT_EQ(r.reasoning, "thoughtful words");
  r = ParseEveryWay(
      "<|channel><|channel>thought\nA<channel|>B<tool_call|>");  // nested open, stray close
  EXPECT_EQ(r.reasoning, "A");
  EXPECT_EQ(r.content, "B");
}

TEST(OutputParser, StartsInsideReasoning) {
  OutputParserOptions opt;
  opt.starts_in_reasoning = true;
  const ParsedOutput r = ParseEveryWay("Let me see.\n<channel|>Answer.<turn|>", opt);
  EXPECT_EQ(r.reasoning, "Let me see.");
  EXPECT_EQ(r.content, "Answer.");
}

TEST(OutputParser, ThoughtEndedByToolCall) {
  const ParsedOutput r =
      ParseEveryWay("<|channel>thought\nNeed a call.<|tool_call>call:f{}<tool_call|>");
  EXPECT_EQ(r.reasoning, "Need a call.");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments, json::object());
}

TEST(OutputParser, ParallelCalls) {
  const ParsedOutput r = ParseEveryWay(
      std::string("<|channel>thought\nTwo cities.<channel|><|tool_call>call:get_weather{city:") +
      kQ + "Paris" + kQ + "}<tool_call|><|tool_call>call:get_weather{city:" + kQ + "Rome" + kQ +
      "}<tool_call|><|tool_response>");
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].arguments, json({{"city", "Paris"}}));
  EXPECT_EQ(r.tool_calls[1].arguments, json({{"city", "Rome"}}));
  EXPECT_EQ(r.reasoning, "Two cities.");
}

TEST(OutputParser, StringsAreVerbatim) {
  // Inside <|"|>…<|"|> everything is literal: quotes, backslashes, newlines, braces, other markers.
  const ParsedOutput r =
      ParseEveryWay(std::string("<|tool_call>call:write{path:") + kQ + "a.txt" + kQ +
                    ",text:" + kQ + "line1\nline \"2\" {x:[1]} \\ end\t<|channel>x<channel|> a<b" +
                    kQ + ",città:" + kQ + "ünï 日本 😀" + kQ + "}<tool_call|>");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].name, "write");
  EXPECT_EQ(r.tool_calls[0].arguments["text"],
            "line1\nline \"2\" {x:[1]} \\ end\t<|channel>x<channel|> a<b");
  EXPECT_EQ(r.tool_calls[0].arguments["città"], "ünï 日本 😀");
}

TEST(OutputParser, Repairs) {
  struct Case {
    std::string text;
    std::string name;
    json args;
  };
  const std::vector<Case> cases = {
      {"<|tool_call>call:f{a:1<tool_call|>", "f", {{"a", 1}}},                      // missing }
      {"<|tool_call>call:f{a:<|\"|>open<tool_call|>", "f", {{"a", "open"}}},        // missing <|"|>
      {"<|tool_call>call:f{a:{b:[1,2<tool_call|>", "f", {{"a", {{"b", {1, 2}}}}}},  // nested
      {"<|tool_call>call:f{a:1,b:<tool_call|>", "f", {{"a", 1}, {"b", nullptr}}},   // value missing
      {"<|tool_call>call:f{a:1,b<tool_call|>", "f", {{"a", 1}}},                    // key cut off
      {"<|tool_call>call:f{\"a\":\"x\\\"y\",\"b\":2}<tool_call|>",
       "f",
       {{"a", "x\"y"}, {"b", 2}}},  // JSON
      {"<|tool_call>call:f{a:'single',b:\"multi\nline\"}<tool_call|>",
       "f",
       {{"a", "single"}, {"b", "multi\nline"}}},
      {"<|tool_call>call:get_weather{location:New York}<tool_call|>",
       "get_weather",
       {{"location", "New York"}}},
      {"<|tool_call>call:f{a:True,b:None,c:-1.5e3}<tool_call|>",
       "f",
       {{"a", true}, {"b", nullptr}, {"c", -1500.0}}},
      {"<|tool_call>call:f{a:[1,2,],}<tool_call|>", "f", {{"a", {1, 2}}}},  // trailing commas
      {"<|tool_call>call:f{ a : 1 ,\n  b : [ 2 , 3 ] }<tool_call|>",
       "f",
       {{"a", 1}, {"b", {2, 3}}}},
      {"<|tool_call>f{a:1}<tool_call|>", "f", {{"a", 1}}},            // no "call:"
      {"<|tool_call>call:ping<tool_call|>", "ping", json::object()},  // no braces
      {"<|tool_call>call:ns:tool.v2{<|\"|>k<|\"|>:1}<tool_call|>",
       "ns:tool.v2",
       {{"k", 1}}},                                                          // quoted key
      {"<|tool_call>call:f{a:1}<tool_call|><tool_call|>", "f", {{"a", 1}}},  // doubled end
      {"<|tool_call>call:f{a:1}<|tool_response>", "f", {{"a", 1}}},          // no <tool_call|>
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const ParsedOutput r = ParseEveryWay(c.text);
    EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].message);
    ASSERT_EQ(r.tool_calls.size(), 1u);
    EXPECT_EQ(r.tool_calls[0].name, c.name);
    EXPECT_EQ(r.tool_calls[0].arguments, c.args);
  }
}

TEST(OutputParser, MalformedCallsBecomeErrorsWithRawText) {
  const std::vector<std::string> bad = {
      "<|tool_call>call:{a:1}<tool_call|>",         // no name
      "<|tool_call>call:my tool{a:1}<tool_call|>",  // space in the name
      "<|tool_call>call:f{a:1}}<tool_call|>",       // extra brace
      "<|tool_call>call:f{a:[1,2}<tool_call|>",     // mismatched bracket
      "<|tool_call>call:f{:1}<tool_call|>",         // no key
      "<|tool_call>call:f{a:1,,b:2}<tool_call|>",   // double comma
      "<|tool_call>call:f{a<|\"|>b<|\"|>:1}<tool_call|>",
      "<|tool_call>call:f{a:\"bad \\q escape\"}<tool_call|>",
      "<|tool_call><tool_call|>",
  };
  for (const std::string& raw : bad) {
    SCOPED_TRACE(raw);
    const std::string text = "Before. " + raw + " After.<|tool_call>call:ok{}<tool_call|>";
    const ParsedOutput r = ParseEveryWay(text);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].raw, raw);
    EXPECT_NE(r.errors[0].message.find("malformed tool call"), std::string::npos);
    EXPECT_EQ(r.content, "Before.  After.");
    ASSERT_EQ(r.tool_calls.size(), 1u);  // the parse goes on after the bad call
    EXPECT_EQ(r.tool_calls[0].name, "ok");
  }
}

TEST(OutputParser, UnterminatedCallAtTheEnd) {
  ParsedOutput r = ParseEveryWay("Checking.<|tool_call>call:f{a:<|\"|>cut off");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].raw, "<|tool_call>call:f{a:<|\"|>cut off");
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_EQ(r.content, "Checking.");
  r = ParseEveryWay("<|tool_call>call:f{a:1<turn|>");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].raw, "<|tool_call>call:f{a:1");
  EXPECT_EQ(r.stop, "<turn|>");
  r = ParseEveryWay("<|tool_call>call:get_wea");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].raw, "<|tool_call>call:get_wea");
}

TEST(OutputParser, StopMarkersAndTextAfterThem) {
  ParsedOutput r = ParseEveryWay("Done.<eos>");
  EXPECT_EQ(r.stop, "<eos>");
  EXPECT_EQ(r.content, "Done.");
  r = ParseEveryWay("A<turn|>B<eos>");  // nothing vanishes; the first stop is reported
  EXPECT_EQ(r.content, "AB");
  EXPECT_EQ(r.stop, "<turn|>");
}

TEST(OutputParser, PlainTextLooksLikeMarkers) {
  const ParsedOutput r = ParseEveryWay("  if a<b and <tool is <|turn ok <|\"|> <channel <eos \n");
  EXPECT_EQ(r.content, "if a<b and <tool is <|turn ok <|\"|> <channel <eos");
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_TRUE(r.errors.empty());
}

TEST(OutputParser, InvalidUtf8BecomesReplacementCharacter) {
  const ParsedOutput r =
      ParseEveryWay(std::string("ok \xff\xc3 done \xe6\x97") + "<|tool_call>call:f{s:" + kQ +
                    "\xed\xa0\x80" + kQ + "}<tool_call|>");
  EXPECT_EQ(r.content, "ok \xEF\xBF\xBD\xEF\xBF\xBD done \xEF\xBF\xBD");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_TRUE(ValidUtf8(r.tool_calls[0].arguments["s"].get<std::string>()));
}

TEST(OutputParser, DeepNestingIsAnErrorNotACrash) {
  const std::string deep = "<|tool_call>call:f{a:" + std::string(100000, '[') + "<tool_call|>after";
  const ParsedOutput r = ParseModelOutput(deep);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.content, "after");
  const ParsedOutput ok = ParseModelOutput("<|tool_call>call:f{a:" + std::string(100, '[') +
                                           std::string(100, ']') + "}<tool_call|>");
  EXPECT_EQ(ok.tool_calls.size(), 1u);
}

TEST(OutputParser, StreamingEventsForOneCall) {
  const std::vector<std::string> tokens = {"<|tool_call>",
                                           "call",
                                           ":",
                                           "get_weather",
                                           "{",
                                           "location",
                                           ":",
                                           kQ,
                                           "Par",
                                           "is",
                                           kQ,
                                           ",",
                                           "days",
                                           ":",
                                           "3",
                                           "}",
                                           "<tool_call|>",
                                           "<|tool_response>"};
  OutputParser streaming;  // stream_tool_arguments = true
  std::vector<OutputEvent> events;
  bool begun_before_end = false;
  for (const std::string& t : tokens) {
    for (OutputEvent& e : streaming.Feed(t)) {
      if (e.type == OutputEventType::kToolCallBegin) {
        EXPECT_EQ(e.text, "get_weather");
        EXPECT_EQ(e.tool_index, 0);
        begun_before_end = t == "{";
      }
      events.push_back(std::move(e));
    }
  }
  for (OutputEvent& e : streaming.Finish()) events.push_back(std::move(e));
  EXPECT_TRUE(begun_before_end);  // the name is announced as soon as it is complete
  std::string args;
  int deltas = 0;
  for (const OutputEvent& e : events) {
    if (e.type == OutputEventType::kToolCallArgumentsDelta) {
      args += e.text;
      ++deltas;
    }
  }
  EXPECT_GT(deltas, 3);
  EXPECT_EQ(args, R"({"location":"Paris","days":3})");
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[events.size() - 2].type, OutputEventType::kToolCallEnd);
  EXPECT_EQ(events[events.size() - 2].arguments, json({{"location", "Paris"}, {"days", 3}}));
  EXPECT_EQ(events.back().type, OutputEventType::kEndOfTurn);

  OutputParserOptions opt;
  opt.stream_tool_arguments = false;
  OutputParser whole(opt);
  for (size_t i = 0; i + 2 < tokens.size(); ++i)
    EXPECT_TRUE(whole.Feed(tokens[i]).empty()) << tokens[i];
  const std::vector<OutputEvent> at_end = whole.Feed(tokens[tokens.size() - 2]);
  ASSERT_EQ(at_end.size(), 3u);  // begin, the whole arguments, end
  EXPECT_EQ(at_end[0].type, OutputEventType::kToolCallBegin);
  EXPECT_EQ(at_end[1].text, R"({"location":"Paris","days":3})");
  EXPECT_EQ(at_end[2].type, OutputEventType::kToolCallEnd);
}

TEST(OutputParser, VoidedStreamingCallCarriesItsIndex) {
  OutputParser p;
  std::vector<OutputEvent> events =
      p.Feed("<|tool_call>call:a{}<tool_call|><|tool_call>call:b{x:1");
  for (OutputEvent& e : p.Feed("}}<tool_call|>")) events.push_back(std::move(e));
  const auto it = std::find_if(events.begin(), events.end(), [](const OutputEvent& e) {
    return e.type == OutputEventType::kError;
  });
  ASSERT_NE(it, events.end());
  EXPECT_EQ(it->tool_index, 1);
  EXPECT_EQ(it->text, "<|tool_call>call:b{x:1}}<tool_call|>");
  p.Finish();
  EXPECT_EQ(p.result().tool_calls.size(), 1u);
  EXPECT_TRUE(p.Feed("more").empty());  // ignored after Finish
}

// ---- generated corpus --------------------------------------------------------------------------

struct Expected {
  std::vector<std::string> reasoning_blocks;
  std::string content;
  std::vector<std::pair<std::string, json>> calls;
  std::vector<std::string> error_raws;
  std::string stop;
};

std::string Trim(const std::string& s) {
  const char* ws = " \t\n\r\v\f";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

class CorpusGen {
 public:
  explicit CorpusGen(uint32_t seed) : rng_(seed) {}

  size_t Pick(size_t n) { return rng_() % n; }
  bool Chance(int percent) { return static_cast<int>(rng_() % 100) < percent; }

  json Value(int depth) {
    static const std::vector<json> scalars = {"Paris",
                                              "New York, NY",
                                              "x \"y\"",
                                              "back\\slash",
                                              "line1\nline2",
                                              "tab\there",
                                              "{not: json}",
                                              "[1, 2]",
                                              "a<b",
                                              "</tag>",
                                              "ünï 日本 😀",
                                              "",
                                              " spaced ",
                                              "call:f{a:1}",
                                              "<|channel>x<channel|>",
                                              "<|\"",
                                              "<turn",
                                              0,
                                              -7,
                                              42,
                                              12345678901,
                                              0.5,
                                              -3.25,
                                              1e-05,
                                              2.5e+20,
                                              true,
                                              false,
                                              nullptr};
    const size_t kind = depth >= 3 ? 0 : Pick(10);
    if (kind < 7) return scalars[Pick(scalars.size())];
    if (kind < 9) return Object(depth + 1);
    json arr = json::array();
    for (size_t i = Pick(4); i > 0; --i) arr.push_back(Value(depth + 1));
    return arr;
  }

  json Object(int depth) {
    static const char* keys[] = {"city",  "location", "q", "n",           "x_1",
                                 "città", "Zed",      "a", "max_results", "filter"};
    json obj = json::object();
    for (size_t i = Pick(depth == 0 ? 5 : 4); i > 0; --i) obj[keys[Pick(10)]] = Value(depth);
    return obj;
  }

  // Gemma's call syntax for a JSON value, in one of three spacing styles.
  std::string Gemma(const json& v, int style) {
    const std::string comma = style == 0 ? "," : style == 1 ? ", " : ",\n  ";
    const std::string colon = style == 0 ? ":" : ": ";
    if (v.is_string()) return kQ + v.get<std::string>() + kQ;
    if (v.is_array()) {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i ? comma : "") + Gemma(v[i], style);
      return out + "]";
    }
    if (v.is_object()) {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, item] : v.items()) {
        out += (first ? "" : comma) + k + colon + Gemma(item, style);
        first = false;
      }
      return out + "}";
    }
    return v.dump();
  }

  std::string Generate(Expected* e) {
    static const std::vector<std::string> thoughts = {
        "Let me think about this.",      "  The user wants weather.\nCheck Paris and Rome. ",
        "数学: 2 + 2 = 4 → 😀",           "a < b and c > d",
        "Quote <|\"|> inside a thought", "x <tool and <chan",
        "\n\nStep 1.\n\nStep 2.\n",      " "};
    static const std::vector<std::string> answers = {
        "Hello!",
        "The weather in Paris is sunny.\n\nAnything else?",
        "  Ünïcödé ✓ ",
        "Use a<b or x</y",
        "{\"json\": true}",
        "```json\n{\"a\": 1}\n```",
        "thought\nnot a label",
        " ",
        "Tabs\tand\\slashes"};
    static const std::vector<std::string> names = {"get_weather", "search", "tool.v2", "ns:act",
                                                   "f_1"};
    static const std::vector<std::string> bad_calls = {
        "<|tool_call>call:{a:1}<tool_call|>",
        "<|tool_call>call:bad name{a:1}<tool_call|>",
        "<|tool_call>call:f{a:1}}<tool_call|>",
        "<|tool_call>call:f{a:[1,2}<tool_call|>",
        "<|tool_call>call:f{:1}<tool_call|>",
        "<|tool_call>call:f{a:1,,b:2}<tool_call|>",
        "<|tool_call>call:f{a:<|\"|>x<|\"|> junk}<tool_call|>",
        "<|tool_call><tool_call|>"};
    std::string text;
    const size_t n_blocks = 1 + Pick(5);
    size_t n_calls = 0;
    for (size_t b = 0; b < n_blocks; ++b) {
      const size_t kind = Pick(100);
      if ((b == 0 && Chance(50)) || kind < 12) {  // thought block
        const std::string t = thoughts[Pick(thoughts.size())];
        text += "<|channel>thought\n" + t;
        if (!Trim(t).empty()) e->reasoning_blocks.push_back(Trim(t));
        if (b + 1 < n_blocks && Chance(20)) {  // unclosed thought, ended by a call
          const json args = Object(0);
          const std::string name = names[Pick(names.size())];
          text += "<|tool_call>call:" + name + Gemma(args, 0) + "<tool_call|>";
          e->calls.emplace_back(name, args);
          ++b;
        } else {
          text += "<channel|>";
        }
      } else if (kind < 40) {
        const std::string a = answers[Pick(answers.size())];
        text += a;
        e->content += a;
      } else if (kind < 75 && n_calls < 3) {
        ++n_calls;
        const json args = Object(0);
        const std::string name = names[Pick(names.size())];
        text += "<|tool_call>call:" + name + Gemma(args, Pick(3)) + "<tool_call|>";
        e->calls.emplace_back(name, args);
      } else if (kind < 85) {
        const std::string raw = bad_calls[Pick(bad_calls.size())];
        text += raw;
        e->error_raws.push_back(raw);
      } else if (kind < 92) {
        text += Chance(50) ? "<|channel>thought\n<channel|>" : "<channel|>";  // empty / stray
      } else {
        text += "<tool_call|>";  // stray end of call
      }
    }
    const size_t end = Pick(10);
    if (end < 2) {  // cut off inside a call
      const std::string raw = "<|tool_call>call:f{a:" + std::string(kQ) + "unfinished";
      text += raw;
      e->error_raws.push_back(raw);
    }
    if (end >= 2 && end < 4) {  // complete call without <tool_call|>
      const json args = Object(0);
      text += "<|tool_call>call:last" + Gemma(args, 0);
      e->calls.emplace_back("last", args);
    }
    static const char* stops[] = {"<turn|>", "<|tool_response>", "<eos>"};
    if (end >= 3 && end < 9) {
      e->stop = stops[Pick(3)];
      text += e->stop;
    }
    e->content = Trim(e->content);
    return text;
  }

 private:
  std::mt19937 rng_;
};

void ExpectMatches(const ParsedOutput& r, const Expected& e) {
  std::string reasoning;
  for (const std::string& block : e.reasoning_blocks)
    reasoning += (reasoning.empty() ? "" : "\n\n") + block;
  EXPECT_EQ(r.reasoning, reasoning);
  EXPECT_EQ(r.content, e.content);
  ASSERT_EQ(r.tool_calls.size(), e.calls.size());
  for (size_t i = 0; i < e.calls.size(); ++i) {
    EXPECT_EQ(r.tool_calls[i].name, e.calls[i].first);
    EXPECT_EQ(r.tool_calls[i].arguments, e.calls[i].second) << r.tool_calls[i].arguments_json;
  }
  ASSERT_EQ(r.errors.size(), e.error_raws.size());
  for (size_t i = 0; i < e.error_raws.size(); ++i) EXPECT_EQ(r.errors[i].raw, e.error_raws[i]);
  EXPECT_EQ(r.stop, e.stop);
}

TEST(OutputParserCorpus, EverySplitGivesTheExpectedResult) {
  constexpr int kOutputs = 260;
  int with_calls = 0, with_errors = 0, with_reasoning = 0;
  for (int i = 0; i < kOutputs; ++i) {
    CorpusGen gen(static_cast<uint32_t>(i));
    Expected expected;
    const std::string text = gen.Generate(&expected);
    SCOPED_TRACE("output " + std::to_string(i) + ": " + text);
    const ParsedOutput r = ParseEveryWay(text, {}, /*all_pairs=*/i < 10 && text.size() < 200);
    ExpectMatches(r, expected);
    with_calls += !expected.calls.empty();
    with_errors += !expected.error_raws.empty();
    with_reasoning += !expected.reasoning_blocks.empty();
    if (HasFatalFailure() || HasNonfatalFailure()) break;
  }
  // The corpus covers every kind of block.
  EXPECT_GT(with_calls, kOutputs / 3);
  EXPECT_GT(with_errors, kOutputs / 5);
  EXPECT_GT(with_reasoning, kOutputs / 3);
}

TEST(OutputParserCorpus, StartingInsideReasoning) {
  OutputParserOptions opt;
  opt.starts_in_reasoning = true;
  for (int i = 0; i < 40; ++i) {
    CorpusGen gen(static_cast<uint32_t>(1000 + i));
    Expected expected;
    const std::string text = "Continuing the thought. " + gen.Generate(&expected);
    SCOPED_TRACE(text);
    const ParsedOutput r = ParseEveryWay(text, opt);
    // The leading text is reasoning, up to the first marker that ends or restarts it.
    EXPECT_EQ(r.reasoning.rfind("Continuing the thought.", 0), 0u) << r.reasoning;
    EXPECT_EQ(r.tool_calls.size(), expected.calls.size());
    EXPECT_EQ(r.errors.size(), expected.error_raws.size());
  }
}

TEST(OutputParserCorpus, MarkerSoupNeverCrashesAndIgnoresSplits) {
  // Random mixtures of markers, marker fragments, syntax characters and bytes (invalid UTF-8
  // included): whatever the model emits, every split gives one result and nothing is lost.
  static const std::vector<std::string> atoms = {"<|channel>",
                                                 "<channel|>",
                                                 "<|tool_call>",
                                                 "<tool_call|>",
                                                 "<turn|>",
                                                 "<|tool_response>",
                                                 "<eos>",
                                                 kQ,
                                                 "thought\n",
                                                 "thought",
                                                 "call:",
                                                 "f",
                                                 "{",
                                                 "}",
                                                 "[",
                                                 "]",
                                                 ":",
                                                 ",",
                                                 "\"",
                                                 "'",
                                                 "\\",
                                                 " ",
                                                 "\n",
                                                 "a",
                                                 "1",
                                                 "-2.5",
                                                 "true",
                                                 "null",
                                                 "<",
                                                 "<|",
                                                 "<tool",
                                                 "|>",
                                                 "\xc3",
                                                 "\xa9",
                                                 "\xff",
                                                 "日",
                                                 "x y"};
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string text;
    for (size_t n = 1 + rng() % 40; n > 0; --n) text += atoms[rng() % atoms.size()];
    SCOPED_TRACE(text);
    const ParsedOutput whole = Feed({text});
    EXPECT_EQ(Feed(Bytes(text)), whole);
    for (int k = 0; k < 8; ++k) {
      std::vector<std::string> pieces;
      for (size_t pos = 0; pos < text.size();) {
        const size_t len = std::min<size_t>(1 + rng() % 7, text.size() - pos);
        pieces.push_back(text.substr(pos, len));
        pos += len;
      }
      EXPECT_EQ(Feed(pieces), whole);
    }
    for (const ParsedToolCall& c : whole.tool_calls) EXPECT_TRUE(c.arguments.is_object());
    if (HasFailure()) break;
  }
}

}  // namespace
}  // namespace g4
