// Tool calls constrained by the tools' parameter schemas: accepted and rejected calls in Gemma's
// syntax, exactly which special tokens the mask allows, the mask against token-by-token
// simulation, completions, and random walks whose parsed arguments must satisfy the schema.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "chat/output_parser.h"
#include "grammar/gemma_call_grammar.h"
#include "grammar/gemma_call_matcher.h"
#include "grammar/token_vocabulary.h"

namespace g4::grammar {
namespace {

using nlohmann::json;

// ids: 0-3 pad/eos/bos/unk, then the specials, the 256 bytes, and multi-byte pieces.
enum : int32_t { kEos = 1, kQuote = 4, kCallOpen, kCallEnd, kTurnEnd, kToolResponse, kChannel, kFirstByte };

std::shared_ptr<TokenVocabulary> TestVocab() {
  std::vector<std::string> bytes = {"<pad>", "<eos>", "<bos>", "<unk>", "<|\"|>", "<|tool_call>", "<tool_call|>",
                                    "<turn|>", "<|tool_response>", "<|channel>"};
  std::vector<bool> special(bytes.size(), true);
  for (int b = 0; b < 256; ++b) {
    bytes.push_back(std::string(1, static_cast<char>(b)));
    special.push_back(false);
  }
  for (const char* piece : {"call", ":", "call:", "get", "_weather", "get_weather{", "{", "city", "city:", "unit",
                            "unit:", "celsius", "fahrenheit", "},", "}", "]", "[", "true", "false", "null", "12",
                            "1.", "-1", "e5", "Paris", " the", "hello", "<", "<|", "tool_call", "<turn", "|>", "\n",
                            "\xC3\xA9", "\xF0\x9F", "\x98\x80", "days", "days:", "tags:[", "\"", "a", "ab", "abc"}) {
    bytes.push_back(piece);
    special.push_back(false);
  }
  // The generator's vocabulary counts the stop tokens as end tokens.
  return std::make_shared<TokenVocabulary>(bytes, special, std::vector<int32_t>{kEos, kTurnEnd, kToolResponse});
}

const std::shared_ptr<TokenVocabulary>& Vocab() {
  static const std::shared_ptr<TokenVocabulary> v = TestVocab();
  return v;
}

constexpr GemmaCallTokenIds kIds{kQuote, kCallEnd};

json Tool(const std::string& name, const json& parameters) {
  return json{{"type", "function"}, {"function", {{"name", name}, {"parameters", parameters}}}};
}

const json& Tools() {
  static const json tools = json::array({
      Tool("get_weather", json::parse(R"({"type":"object","properties":{
            "city":{"type":"string","minLength":1,"maxLength":20},
            "unit":{"type":"string","enum":["celsius","fahrenheit"]},
            "days":{"type":"integer","minimum":1,"maximum":14}},
          "required":["city"],"additionalProperties":false})")),
      Tool("get", json::parse(R"({"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]})")),
      Tool("search", json::parse(R"({"type":"object","properties":{
            "query":{"type":"string"},
            "filters":{"type":"object","properties":{
                "tags":{"type":"array","items":{"type":"string","maxLength":8},"minItems":1,"maxItems":3},
                "exact":{"type":"boolean"},
                "score":{"type":"number","minimum":0,"maximum":1}},
              "required":["tags"],"additionalProperties":false},
            "limit":{"anyOf":[{"type":"integer","minimum":1},{"type":"null"}]},
            "page size":{"type":"integer"}},
          "required":["query","filters"],"additionalProperties":false})")),
      Tool("note", json::parse(R"({"type":"object","additionalProperties":{"type":"boolean"}})")),
      json{{"type", "function"}, {"function", {{"name", "ping"}}}},  // no parameters
  });
  return tools;
}

const std::shared_ptr<const GemmaCallGrammar>& Grammar() {
  static const std::shared_ptr<const GemmaCallGrammar> g = GemmaCallGrammar::Compile(Tools());
  return g;
}

// Readable units: ' stands for <|"|> and $ for <tool_call|>.
std::string Units(std::string s) {
  for (char& c : s) {
    if (c == '\'') c = static_cast<char>(kUnitQuote);
    if (c == '$') c = static_cast<char>(kUnitCallEnd);
  }
  return s;
}

// The call fed one unit at a time, so the check does not depend on how tokens split it.
bool Accepts(const std::string& readable) {
  GemmaCallMatcher m(Grammar(), Vocab(), kIds);
  for (char c : Units(readable))
    if (!m.AcceptUnits(std::string(1, c))) return false;
  return m.IsTerminated();
}

// The text a model writes for these units (after <|tool_call>).
std::string Text(const std::string& units) {
  std::string out;
  for (char c : units) {
    if (static_cast<uint8_t>(c) == kUnitQuote) out += "<|\"|>";
    else if (static_cast<uint8_t>(c) == kUnitCallEnd) out += "<tool_call|>";
    else out += c;
  }
  return out;
}

bool Allowed(const std::vector<uint64_t>& mask, int32_t id) { return (mask[id >> 6] >> (id & 63)) & 1; }

TEST(GemmaCallGrammar, AcceptsValidCalls) {
  EXPECT_TRUE(Accepts("call:get_weather{city:'Paris'}$"));
  EXPECT_TRUE(Accepts("call:get_weather{city:'Paris',unit:'celsius',days:3}$"));
  EXPECT_TRUE(Accepts("call:get_weather{days:14,city:'\xC3\xA9 <b> x|y \"q\" \\n\n'}$"));  // any order; raw text
  EXPECT_TRUE(Accepts("call:get{id:-42}$"));
  EXPECT_TRUE(Accepts("call:search{query:'',filters:{tags:['a','b']}}$"));
  EXPECT_TRUE(Accepts("call:search{query:'x',filters:{tags:['a'],exact:true,score:0.5},limit:null}$"));
  EXPECT_TRUE(Accepts("call:search{query:'x',filters:{tags:['a']},limit:7,'page size':20}$"));
  EXPECT_TRUE(Accepts("call:note{}$"));
  EXPECT_TRUE(Accepts("call:note{done:true,x_1:false}$"));
  EXPECT_TRUE(Accepts("call:ping{}$"));
}

TEST(GemmaCallGrammar, RejectsInvalidCalls) {
  EXPECT_FALSE(Accepts("call:get_forecast{city:'Paris'}$"));   // undeclared tool
  EXPECT_FALSE(Accepts("get_weather{city:'Paris'}$"));         // no call:
  EXPECT_FALSE(Accepts("call:get_weather{}$"));                // required city missing
  EXPECT_FALSE(Accepts("call:get_weather{city:''}$"));         // minLength
  EXPECT_FALSE(Accepts("call:get_weather{city:'123456789012345678901'}$"));  // maxLength 20
  EXPECT_FALSE(Accepts("call:get_weather{city:'Paris',country:'FR'}$"));     // additionalProperties false
  EXPECT_FALSE(Accepts("call:get_weather{city:'Paris',city:'Rome'}$"));      // a key twice
  EXPECT_FALSE(Accepts("call:get_weather{city:'Paris',unit:'kelvin'}$"));    // enum
  EXPECT_FALSE(Accepts("call:get_weather{city:'Paris',days:0}$"));           // minimum
  EXPECT_FALSE(Accepts("call:get_weather{city:'Paris',days:15}$"));          // maximum
  EXPECT_FALSE(Accepts("call:get_weather{city:'Paris',days:2.5}$"));         // integer
  EXPECT_FALSE(Accepts("call:get_weather{city:\"Paris\"}$"));                // JSON strings
  EXPECT_FALSE(Accepts("call:get_weather{\"city\":'Paris'}$"));              // JSON keys
  EXPECT_FALSE(Accepts("call:get_weather{ city:'Paris'}$"));                 // whitespace
  EXPECT_FALSE(Accepts("call:get_weather{city:'a<turn|>b'}$"));              // marker text in a string
  EXPECT_FALSE(Accepts("call:get_weather{city:'a<|\"|>b'}$"));
  EXPECT_FALSE(Accepts("call:get_weather{city:'Paris'}"));                   // not closed by <tool_call|>
  EXPECT_FALSE(Accepts("call:get{id:1.5}$"));
  EXPECT_FALSE(Accepts("call:search{query:'x',filters:{tags:[]}}$"));         // minItems
  EXPECT_FALSE(Accepts("call:search{query:'x',filters:{tags:['a','b','c','d']}}$"));  // maxItems
  EXPECT_FALSE(Accepts("call:search{query:'x',filters:{tags:['a'],score:1.5}}$"));   // maximum
  EXPECT_FALSE(Accepts("call:search{query:'x',filters:{tags:['a']},limit:0}$"));     // anyOf: neither
  EXPECT_FALSE(Accepts("call:search{query:'x',filters:{tags:['a']},page size:1}$"));  // needs quoting
  EXPECT_FALSE(Accepts("call:note{done:1}$"));
  EXPECT_FALSE(Accepts("call:note{'x':true}$"));  // unlisted keys are bare
  EXPECT_FALSE(Accepts("call:ping{a:1}$"));
}

TEST(GemmaCallGrammar, MaskAllowsExactlyTheSpecialTokensTheSyntaxNeeds) {
  GemmaCallMatcher m(Grammar(), Vocab(), kIds);
  std::vector<uint64_t> mask;
  auto specials_allowed = [&] {
    std::vector<int32_t> out;
    for (int32_t id = 0; id < kFirstByte; ++id)
      if (Allowed(mask, id)) out.push_back(id);
    return out;
  };
  m.FillMask(mask);
  EXPECT_EQ(specials_allowed(), std::vector<int32_t>{});  // the header is plain text
  EXPECT_FALSE(Allowed(mask, kFirstByte + '{'));
  EXPECT_TRUE(Allowed(mask, kFirstByte + 'c'));
  ASSERT_TRUE(m.AcceptUnits("call:get_weather{city:"));
  m.FillMask(mask);
  EXPECT_EQ(specials_allowed(), std::vector<int32_t>{kQuote});  // a string opens
  EXPECT_FALSE(Allowed(mask, kFirstByte + '"'));
  EXPECT_FALSE(Allowed(mask, kFirstByte + 'P'));
  ASSERT_TRUE(m.AcceptToken(kQuote));
  m.FillMask(mask);
  EXPECT_EQ(specials_allowed(), std::vector<int32_t>{});  // minLength 1: cannot close yet
  EXPECT_TRUE(Allowed(mask, kFirstByte + '"'));           // a quote byte is plain text here
  EXPECT_TRUE(Allowed(mask, kFirstByte + '<'));
  EXPECT_FALSE(m.AcceptToken(kFirstByte + 0xFF));  // not UTF-8 (a byte, not the quote token)
  EXPECT_FALSE(m.AcceptToken(kFirstByte + 0x01));  // control byte
  ASSERT_TRUE(m.AcceptUnits("Paris"));
  m.FillMask(mask);
  EXPECT_EQ(specials_allowed(), std::vector<int32_t>{kQuote});
  ASSERT_TRUE(m.AcceptUnits("<turn|"));
  m.FillMask(mask);
  EXPECT_FALSE(Allowed(mask, kFirstByte + '>'));  // would spell <turn|>
  EXPECT_TRUE(Allowed(mask, kFirstByte + 'x'));
  EXPECT_TRUE(Allowed(mask, kQuote));
  ASSERT_TRUE(m.AcceptToken(kQuote));
  m.FillMask(mask);
  EXPECT_EQ(specials_allowed(), std::vector<int32_t>{});
  ASSERT_TRUE(m.AcceptUnits("}"));
  m.FillMask(mask);
  int count = 0;
  for (uint64_t w : mask) count += __builtin_popcountll(w);
  EXPECT_EQ(count, 1);
  EXPECT_TRUE(Allowed(mask, kCallEnd));
  EXPECT_TRUE(m.AcceptToken(kCallEnd));
  EXPECT_TRUE(m.IsTerminated());
  EXPECT_EQ(m.tool(), 0);
  m.FillMask(mask);
  for (uint64_t w : mask) EXPECT_EQ(w, 0u);
}

TEST(GemmaCallGrammar, QuotedKeysNeedTheQuoteToken) {
  GemmaCallMatcher m(Grammar(), Vocab(), kIds);
  ASSERT_TRUE(m.AcceptUnits(Units("call:search{query:'x',filters:{tags:['a']},")));
  std::vector<uint64_t> mask;
  m.FillMask(mask);
  EXPECT_TRUE(Allowed(mask, kQuote));  // 'page size'
  EXPECT_TRUE(Allowed(mask, kFirstByte + 'l'));
  EXPECT_FALSE(Allowed(mask, kFirstByte + 'p'));
  EXPECT_FALSE(Allowed(mask, kCallEnd));
}

// Every token's mask bit equals what feeding that token does, along random walks.
TEST(GemmaCallGrammar, MaskMatchesSimulation) {
  std::mt19937_64 rng(3);
  std::vector<uint64_t> mask;
  for (int walk = 0; walk < 40; ++walk) {
    GemmaCallMatcher m(Grammar(), Vocab(), kIds);
    for (int step = 0; step < 40 && !m.IsTerminated(); ++step) {
      m.FillMask(mask);
      std::vector<int32_t> allowed;
      for (int32_t t = 0; t < Vocab()->size(); ++t) {
        ASSERT_EQ(Allowed(mask, t), m.IsTokenAllowed(t)) << "walk " << walk << " step " << step << " token " << t;
        if (Allowed(mask, t)) allowed.push_back(t);
      }
      ASSERT_FALSE(allowed.empty());
      for (int32_t stop : {kEos, kTurnEnd, kToolResponse, kChannel, kCallOpen}) EXPECT_FALSE(Allowed(mask, stop));
      // Prefer closing strings now and then so walks reach the later states.
      const int32_t pick = Allowed(mask, kQuote) && rng() % 3 == 0 ? kQuote : allowed[rng() % allowed.size()];
      ASSERT_TRUE(m.AcceptToken(pick));
    }
  }
}

// Random walks, completed: the parser reads every call back as a declared tool with arguments
// the tool's schema accepts.
TEST(GemmaCallGrammar, CompletedWalksParseToValidArguments) {
  std::mt19937_64 rng(11);
  std::vector<uint64_t> mask;
  std::set<std::string> names_seen;
  for (int walk = 0; walk < 300; ++walk) {
    GemmaCallMatcher m(Grammar(), Vocab(), kIds);
    std::string text = "<|tool_call>";
    const int steps = static_cast<int>(rng() % 30);
    for (int step = 0; step < steps && !m.IsTerminated(); ++step) {
      m.FillMask(mask);
      std::vector<int32_t> allowed;
      for (int32_t t = 0; t < Vocab()->size(); ++t)
        if (Allowed(mask, t)) allowed.push_back(t);
      const int32_t pick = Allowed(mask, kQuote) && rng() % 3 == 0 ? kQuote : allowed[rng() % allowed.size()];
      ASSERT_TRUE(m.AcceptToken(pick));
      text += Vocab()->bytes(pick);
    }
    const std::string rest = m.CompletionUnits();
    if (!m.IsTerminated()) {
      ASSERT_FALSE(rest.empty());
      ASSERT_TRUE(m.AcceptUnits(rest)) << text;
    }
    ASSERT_TRUE(m.IsTerminated());
    text += Text(rest);
    const ParsedOutput out = ParseModelOutput(text);
    ASSERT_EQ(out.errors.size(), 0u) << text;
    ASSERT_EQ(out.tool_calls.size(), 1u) << text;
    const int tool = m.tool();
    ASSERT_GE(tool, 0);
    EXPECT_EQ(out.tool_calls[0].name, Grammar()->tool(tool).name);
    EXPECT_TRUE(Grammar()->tool(tool).schema->Matches(out.tool_calls[0].arguments))
        << text << " -> " << out.tool_calls[0].arguments.dump();
    names_seen.insert(out.tool_calls[0].name);
  }
  EXPECT_GE(names_seen.size(), 4u);
}

TEST(GemmaCallGrammar, RollbackAndCompletion) {
  GemmaCallMatcher m(Grammar(), Vocab(), kIds);
  EXPECT_EQ(Text(m.CompletionUnits()).substr(0, 5), "call:");
  ASSERT_TRUE(m.AcceptUnits("call:get_weather{"));
  EXPECT_EQ(Text(m.CompletionUnits()), "city:<|\"|>a<|\"|>}<tool_call|>");
  ASSERT_TRUE(m.AcceptUnits("days:1"));
  EXPECT_EQ(Text(m.CompletionUnits()), ",city:<|\"|>a<|\"|>}<tool_call|>");
  EXPECT_TRUE(m.AcceptUnits("2"));
  EXPECT_FALSE(m.AcceptUnits("5"));  // 125 > 14
  EXPECT_TRUE(m.Rollback(2));
  EXPECT_TRUE(m.AcceptUnits("}") == false);  // city still missing
  EXPECT_FALSE(m.AcceptToken(kEos));
  EXPECT_FALSE(m.AcceptToken(kChannel));
  EXPECT_FALSE(m.Rollback(10));
}

TEST(GemmaCallGrammar, CompileErrors) {
  auto error = [](const json& tools) -> std::string {
    try {
      GemmaCallGrammar::Compile(tools);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(error(json::array({Tool("a", {{"type", "object"}}), Tool("a", {{"type", "object"}})})).find("declared twice"),
            std::string::npos);
  EXPECT_NE(error(json::array({Tool("a", {{"type", "string"}})})).find("must allow an object"), std::string::npos);
  EXPECT_NE(error(json::array({Tool("bad name", {{"type", "object"}})})).find("tools[0].function.name"), std::string::npos);
  EXPECT_NE(error(json::array({Tool("a", {{"type", "object"}, {"properties", {{"x", {{"pattern", "a"}}}}}})}))
                .find("tools[0].function.parameters"),
            std::string::npos);
  EXPECT_NE(error(json::array({Tool("a", json::parse(R"({"type":"object","properties":{"x":{"enum":["<turn|>"]}}})"))}))
                .find("control token"),
            std::string::npos);
  EXPECT_EQ(error(json::array()), "(no error)");
}

}  // namespace
}  // namespace g4::grammar
