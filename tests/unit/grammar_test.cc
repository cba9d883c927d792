// JSON Schema grammar: accepted/rejected documents per schema feature, schema errors naming the
// path, and the token mask checked against token-by-token simulation.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "grammar/grammar_matcher.h"
#include "grammar/json_schema.h"
#include "grammar/token_vocabulary.h"

namespace g4::grammar {
namespace {

using nlohmann::json;

constexpr int32_t kEos = 1;

// ids 0-3 pad/eos/bos/unk, 4-259 the bytes, then multi-byte pieces like a real vocabulary's.
std::shared_ptr<TokenVocabulary> TestVocab() {
  std::vector<std::string> bytes = {"<pad>", "", "<bos>", "<unk>"};
  std::vector<bool> special = {true, true, true, true};
  for (int b = 0; b < 256; ++b) {
    bytes.push_back(std::string(1, static_cast<char>(b)));
    special.push_back(false);
  }
  for (const char* piece :
       {"\"", "\",", "\":", "\"}", "{\"", "\"]", "\":\"", "\\n", " \"", "ab\"", "a\"b", "\\u00", "\\ud83d",
        "\\ude00", "\xC3\xA9", "\xF0\x9F", "\x98\x80", "true", "null", "false", "12", "1.", "e-", "},", "]}",
        "  ", "\n  ", "\\\"", "name", "age", "\"name\"", "\"age\":", " the", "hello", "\"a", "[{", "}]", "\"}}",
        "0.", ".5", "-1", "tr", "ue", "\t", "\r\n", "\",\"", "\"\",", "{}", "[]", "\"\"", "\\\\", "\\u", "d83d",
        "\"b\":", "\"tags\":[\"", "ok\"}", "\"x\\\"y\"", " {", "} ", "\n"}) {
    bytes.push_back(piece);
    special.push_back(false);
  }
  bytes.push_back("<|turn>");
  special.push_back(true);
  return std::make_shared<TokenVocabulary>(bytes, special, std::vector<int32_t>{kEos});
}

const std::shared_ptr<TokenVocabulary>& Vocab() {
  static const std::shared_ptr<TokenVocabulary> v = TestVocab();
  return v;
}

bool Accepts(const std::shared_ptr<const JsonSchemaGrammar>& g, const std::string& text) {
  GrammarMatcher m(g, Vocab());
  // Byte by byte, so the check does not depend on how tokens split the text.
  for (char c : text)
    if (!m.AcceptBytes(std::string(1, c))) return false;
  return m.IsComplete();
}

bool Accepts(const json& schema, const std::string& text) { return Accepts(JsonSchemaGrammar::Compile(schema), text); }

std::string CompileError(const json& schema) {
  try {
    JsonSchemaGrammar::Compile(schema);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(GrammarSchema, Strings) {
  json s = {{"type", "string"}};
  EXPECT_TRUE(Accepts(s, "\"abc\""));
  EXPECT_TRUE(Accepts(s, "\"\""));
  EXPECT_TRUE(Accepts(s, "\"a\\nb\\\"\\\\\\/\\u00e9\""));
  EXPECT_TRUE(Accepts(s, "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\""));
  EXPECT_TRUE(Accepts(s, "\"\\ud83d\\ude00\""));
  EXPECT_FALSE(Accepts(s, "\"\\ud83d\""));        // lone high surrogate
  EXPECT_FALSE(Accepts(s, "\"\\ude00\""));        // lone low surrogate
  EXPECT_FALSE(Accepts(s, "\"\\x\""));
  EXPECT_FALSE(Accepts(s, "\"a\nb\""));           // raw control character
  EXPECT_FALSE(Accepts(s, "\"\xFF\""));           // not UTF-8
  EXPECT_FALSE(Accepts(s, "\"\xC0\xAF\""));       // overlong
  EXPECT_FALSE(Accepts(s, "\"\xED\xA0\x80\""));   // UTF-8 surrogate
  EXPECT_FALSE(Accepts(s, "\"abc"));
  EXPECT_FALSE(Accepts(s, "abc"));
}

TEST(GrammarSchema, StringLength) {
  json s = {{"type", "string"}, {"minLength", 2}, {"maxLength", 3}};
  EXPECT_FALSE(Accepts(s, "\"a\""));
  EXPECT_TRUE(Accepts(s, "\"ab\""));
  EXPECT_TRUE(Accepts(s, "\"a\xC3\xA9\\n\""));  // 3 characters
  EXPECT_FALSE(Accepts(s, "\"abcd\""));
  EXPECT_FALSE(Accepts(s, "\"abc\\n\""));
  EXPECT_TRUE(Accepts(s, "\"\\ud83d\\ude00x\""));  // a surrogate pair is one character
}

TEST(GrammarSchema, Integers) {
  json s = {{"type", "integer"}};
  for (const char* ok : {"0", "-0", "7", "-15", "123456789012345"}) EXPECT_TRUE(Accepts(s, ok)) << ok;
  for (const char* bad : {"01", "1.5", "1e3", "-", "+1", "1234567890123456", "\"1\""})
    EXPECT_FALSE(Accepts(s, bad)) << bad;
  json b = {{"type", "integer"}, {"minimum", 10}, {"exclusiveMaximum", 20}};
  for (const char* ok : {"10", "15", "19"}) EXPECT_TRUE(Accepts(b, ok)) << ok;
  for (const char* bad : {"9", "20", "-1", "100", "0"}) EXPECT_FALSE(Accepts(b, bad)) << bad;
  json neg = {{"type", "integer"}, {"minimum", -120}, {"maximum", -100}};
  EXPECT_TRUE(Accepts(neg, "-105"));
  EXPECT_FALSE(Accepts(neg, "-99"));
  EXPECT_FALSE(Accepts(neg, "-121"));
}

TEST(GrammarSchema, Numbers) {
  json s = {{"type", "number"}};
  for (const char* ok : {"0", "1.5", "-0.25e-3", "1E+2", "12e5", "3.14159"}) EXPECT_TRUE(Accepts(s, ok)) << ok;
  for (const char* bad : {".5", "1.", "-", "1e", "0x1", "NaN", "1e100"}) EXPECT_FALSE(Accepts(s, bad)) << bad;
  json b = {{"type", "number"}, {"minimum", 0}, {"maximum", 1}};
  for (const char* ok : {"0", "0.5", "1", "0.999"}) EXPECT_TRUE(Accepts(b, ok)) << ok;
  for (const char* bad : {"1.5", "-0.5", "2", "1e-1"}) EXPECT_FALSE(Accepts(b, bad)) << bad;
  json e = {{"type", "number"}, {"exclusiveMinimum", 0}, {"maximum", 10}};
  EXPECT_FALSE(Accepts(e, "0"));
  EXPECT_FALSE(Accepts(e, "0.5"));  // a fraction of 0.x could round to 0
  EXPECT_TRUE(Accepts(e, "1.5"));
  EXPECT_TRUE(Accepts(e, "10"));
  EXPECT_FALSE(Accepts(e, "10.5"));
}

TEST(GrammarSchema, LiteralsEnumConst) {
  EXPECT_TRUE(Accepts(json{{"type", "boolean"}}, "true"));
  EXPECT_TRUE(Accepts(json{{"type", "boolean"}}, "false"));
  EXPECT_FALSE(Accepts(json{{"type", "boolean"}}, "null"));
  EXPECT_TRUE(Accepts(json{{"type", "null"}}, "null"));
  json e = {{"enum", json::array({"red", "green", 1, 10, nullptr, json{{"a", json::array({1, 2})}}})}};
  for (const char* ok : {"\"red\"", "\"green\"", "1", "10", "null", "{\"a\":[1,2]}"})
    EXPECT_TRUE(Accepts(e, ok)) << ok;
  for (const char* bad : {"\"blue\"", "2", "100", "{\"a\":[1]}"}) EXPECT_FALSE(Accepts(e, bad)) << bad;
  EXPECT_TRUE(Accepts(json{{"const", "x"}}, "\"x\""));
  EXPECT_FALSE(Accepts(json{{"const", "x"}}, "\"y\""));
  // enum values must satisfy the rest of the schema too.
  json typed = {{"type", "string"}, {"maxLength", 2}, {"enum", json::array({"ab", "abc", 3})}};
  EXPECT_TRUE(Accepts(typed, "\"ab\""));
  EXPECT_FALSE(Accepts(typed, "\"abc\""));
  EXPECT_FALSE(Accepts(typed, "3"));
  // 1.0 and 1 are the same number.
  EXPECT_TRUE(Accepts(json{{"enum", json::array({1.0})}}, "1"));
}

json PersonSchema() {
  return json::parse(R"({
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "email": {"type": "string"}},
    "required": ["name", "age"], "additionalProperties": false})");
}

TEST(GrammarSchema, Objects) {
  json s = PersonSchema();
  EXPECT_TRUE(Accepts(s, R"({"name":"x","age":3})"));
  EXPECT_TRUE(Accepts(s, R"({"age":3,"name":"x"})"));  // any order
  EXPECT_TRUE(Accepts(s, R"({ "name" : "x" , "age" : 3, "email": "a@b" })"));
  EXPECT_FALSE(Accepts(s, R"({"name":"x"})"));           // missing required
  EXPECT_FALSE(Accepts(s, R"({"name":"x","age":3,"zip":1})"));
  EXPECT_FALSE(Accepts(s, R"({"name":"x","age":3,"age":4})"));  // duplicate
  EXPECT_FALSE(Accepts(s, R"({"name":"x","age":"3"})"));
  EXPECT_FALSE(Accepts(s, R"({"name":"x","age":3,})"));
  EXPECT_FALSE(Accepts(s, R"({"n\u0061me":"x","age":3})"));  // keys are spelled canonically
}

TEST(GrammarSchema, AdditionalProperties) {
  json s = json::parse(R"({"type":"object","properties":{"a":{"type":"integer"}},
                           "additionalProperties":{"type":"string"}})");
  EXPECT_TRUE(Accepts(s, R"({"a":1,"b":"x"})"));
  EXPECT_TRUE(Accepts(s, R"({"ab":"x","a":2})"));  // "ab" is not "a"
  EXPECT_TRUE(Accepts(s, R"({})"));
  EXPECT_FALSE(Accepts(s, R"({"b":1})"));
  EXPECT_FALSE(Accepts(s, R"({"a":"x"})"));
  EXPECT_FALSE(Accepts(s, R"({"a":1,"a":2})"));
  json any = {{"type", "object"}, {"additionalProperties", true}, {"properties", {{"a", {{"type", "null"}}}}}};
  EXPECT_TRUE(Accepts(any, R"({"x":[1,{"y":null}],"a":null})"));
  // Without additionalProperties, listed properties only (documented default) ...
  json listed = {{"type", "object"}, {"properties", {{"a", {{"type", "integer"}}}}}};
  EXPECT_FALSE(Accepts(listed, R"({"b":1})"));
  // ... unless asked for JSON Schema's default.
  JsonSchemaOptions opts;
  opts.allow_unlisted_properties = true;
  EXPECT_TRUE(Accepts(JsonSchemaGrammar::Compile(listed, opts), R"({"b":1})"));
  // Object counts.
  json counted = json::parse(R"({"type":"object","properties":{"a":{},"b":{},"c":{}},
                                 "additionalProperties":false,"minProperties":2,"maxProperties":2})");
  EXPECT_FALSE(Accepts(counted, R"({"a":1})"));
  EXPECT_TRUE(Accepts(counted, R"({"a":1,"c":2})"));
  EXPECT_FALSE(Accepts(counted, R"({"a":1,"b":2,"c":3})"));
}

TEST(GrammarSchema, Arrays) {
  json s = {{"type", "array"}, {"items", {{"type", "integer"}}}, {"minItems", 1}, {"maxItems", 3}};
  EXPECT_FALSE(Accepts(s, "[]"));
  EXPECT_TRUE(Accepts(s, "[1]"));
  EXPECT_TRUE(Accepts(s, "[1, 2 ,3]"));
  EXPECT_FALSE(Accepts(s, "[1,2,3,4]"));
  EXPECT_FALSE(Accepts(s, "[1,]"));
  EXPECT_FALSE(Accepts(s, "[\"a\"]"));
  json tuple = json::parse(R"({"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false})");
  EXPECT_TRUE(Accepts(tuple, R"(["a",1])"));
  EXPECT_TRUE(Accepts(tuple, R"(["a"])"));
  EXPECT_FALSE(Accepts(tuple, R"(["a",1,2])"));
  EXPECT_FALSE(Accepts(tuple, R"([1])"));
  EXPECT_TRUE(Accepts(json{{"type", "array"}}, R"([1,"a",{"b":[]},null])"));
}

TEST(GrammarSchema, AnyOfAndTypeLists) {
  json s = json::parse(R"({"anyOf":[{"type":"string"},{"type":"integer","minimum":0}]})");
  EXPECT_TRUE(Accepts(s, "\"a\""));
  EXPECT_TRUE(Accepts(s, "5"));
  EXPECT_FALSE(Accepts(s, "-5"));
  json objects = json::parse(R"({"anyOf":[
      {"type":"object","properties":{"kind":{"const":"circle"},"r":{"type":"number"}},"required":["kind","r"],"additionalProperties":false},
      {"type":"object","properties":{"kind":{"const":"square"},"side":{"type":"number"}},"required":["kind","side"],"additionalProperties":false}]})");
  EXPECT_TRUE(Accepts(objects, R"({"kind":"circle","r":1.5})"));
  EXPECT_TRUE(Accepts(objects, R"({"side":2,"kind":"square"})"));
  EXPECT_FALSE(Accepts(objects, R"({"kind":"circle","side":2})"));
  json nullable = {{"type", json::array({"string", "null"})}, {"maxLength", 1}};
  EXPECT_TRUE(Accepts(nullable, "null"));
  EXPECT_TRUE(Accepts(nullable, "\"a\""));
  EXPECT_FALSE(Accepts(nullable, "\"ab\""));
  json both = {{"type", json::array({"integer", "number"})}};
  EXPECT_TRUE(Accepts(both, "1"));
  EXPECT_TRUE(Accepts(both, "1.5"));
  json one = json::parse(R"({"oneOf":[{"type":"string"},{"type":"null"}]})");
  EXPECT_TRUE(Accepts(one, "null"));
}

TEST(GrammarSchema, RefsAndRecursion) {
  json tree = json::parse(R"({
    "$defs": {"node": {"type":"object","properties":{"value":{"type":"integer"},
              "children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["value"],
              "additionalProperties":false}},
    "$ref": "#/$defs/node"})");
  EXPECT_TRUE(Accepts(tree, R"({"value":1,"children":[{"value":2},{"value":3,"children":[]}]})"));
  EXPECT_FALSE(Accepts(tree, R"({"value":1,"children":[{"children":[]}]})"));
  json root_ref = json::parse(R"({"type":"object","properties":{"next":{"anyOf":[{"$ref":"#"},{"type":"null"}]}},
                                   "required":["next"],"additionalProperties":false})");
  EXPECT_TRUE(Accepts(root_ref, R"({"next":{"next":null}})"));
  json defs = json::parse(R"({"definitions":{"a":{"$ref":"#/definitions/b"},"b":{"type":"integer"}},
                               "type":"array","items":{"$ref":"#/definitions/a"}})");
  EXPECT_TRUE(Accepts(defs, "[1,2]"));
  EXPECT_FALSE(Accepts(defs, "[\"x\"]"));
}

TEST(GrammarSchema, WhitespaceAndDepthAreBounded) {
  json s = {{"type", "array"}};
  EXPECT_TRUE(Accepts(s, "[ 1 ,\n  2\t]"));
  EXPECT_TRUE(Accepts(s, "[" + std::string(12, ' ') + "1]"));
  EXPECT_FALSE(Accepts(s, "[" + std::string(13, ' ') + "1]"));
  EXPECT_TRUE(Accepts(s, " [1] "));
  JsonSchemaOptions opts;
  opts.max_depth = 3;
  auto g = JsonSchemaGrammar::AnyJson(opts);
  EXPECT_TRUE(Accepts(g, "[[[1]]]"));
  EXPECT_FALSE(Accepts(g, "[[[[1]]]]"));
  EXPECT_TRUE(Accepts(g, "{\"a\":{\"b\":[\"c\"]}}"));
  opts.max_whitespace = 0;
  EXPECT_FALSE(Accepts(JsonSchemaGrammar::AnyJson(opts), "[1, 2]"));
}

TEST(GrammarSchema, AnyJson) {
  auto g = JsonSchemaGrammar::AnyJson();
  for (const char* ok : {"{}", "[]", "\"s\"", "-1.5e3", "true", "null", R"({"a":[1,{"b":"c"}],"d":false})"})
    EXPECT_TRUE(Accepts(g, ok)) << ok;
  for (const char* bad : {"{", "[1,]", "{'a':1}", "tru", "{\"a\"}", "nul l"}) EXPECT_FALSE(Accepts(g, bad)) << bad;
}

TEST(GrammarErrors, NamePaths) {
  auto expect = [](const json& schema, const std::string& needle) {
    std::string msg = CompileError(schema);
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg << "\nexpected: " << needle;
  };
  expect(json{{"type", "int"}}, "schema.type: unsupported value \"int\"");
  expect(json::parse(R"({"type":"object","properties":{"age":{"type":"int"}}})"),
         "schema.properties.age.type: unsupported value \"int\"");
  expect(json::parse(R"({"type":"object","properties":{"name":{"type":"string","pattern":"^a"}}})"),
         "schema.properties.name.pattern: unsupported keyword");
  expect(json::parse(R"({"type":"array","items":{"not":{}}})"), "schema.items.not: unsupported keyword");
  expect(json::parse(R"({"type":"number","multipleOf":2})"), "schema.multipleOf: unsupported keyword");
  expect(json::parse(R"({"$ref":"#/$defs/missing"})"), "schema.$ref: \"#/$defs/missing\" does not resolve");
  expect(json::parse(R"({"$ref":"http://x/y.json"})"), "schema.$ref: only local references");
  expect(json::parse(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})"),
         "circular chain of $ref");
  expect(json::parse(R"({"type":"object","properties":{"me":{"$ref":"#"}},"required":["me"]})"),
         "schema: no finite JSON document satisfies this schema");
  expect(json::parse(R"({"type":"array","minItems":3,"maxItems":2})"), "schema: minItems is greater than maxItems");
  expect(json::parse(R"({"oneOf":[{"type":"object"},{"type":"object","properties":{"a":{}}}]})"),
         "schema.oneOf: alternatives 0 and 1 can start alike");
  expect(json::parse(R"({"type":"string","enum":[1,2]})"), "schema.enum: no listed value satisfies");
  expect(json(5), "schema: expected a schema (object or boolean)");
  expect(json(false), "schema: no finite JSON document");
  expect(json::parse(R"({"type":"object","properties":{"a":{"type":"array","items":[{"type":"string"}]}}})"),
         "schema.properties.a.items: the array form is unsupported");
  expect(json::parse(R"({"type":"integer","minimum":5,"maximum":4})"), "schema: no integer");
  expect(json::parse(R"({"type":"string","minLength":-1})"), "schema.minLength: expected a non-negative integer");
  expect(json::parse(R"({"anyOf":[]})"), "schema.anyOf: expected a non-empty array");
  expect(json::parse(R"({"type":"object","required":["x"],"additionalProperties":false})"),
         "schema.required: \"x\" is not a listed property");
  // Deep nesting of the schema itself is refused, not a stack overflow.
  json deep = {{"type", "string"}};
  for (int i = 0; i < 500; ++i) deep = json{{"type", "array"}, {"items", deep}};
  expect(deep, "nested more than");
}

// The mask must equal "the matcher accepts this token" for every token, in every state reached
// by a random walk, and never be empty; completions must complete.
void CheckMaskAgainstSimulation(const json& schema, uint64_t seed, int walks) {
  auto g = JsonSchemaGrammar::Compile(schema);
  const auto& vocab = Vocab();
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> mask;
  for (int w = 0; w < walks; ++w) {
    GrammarMatcher m(g, vocab);
    for (int step = 0; step < 60 && !m.IsTerminated(); ++step) {
      m.FillMask(mask);
      std::vector<int32_t> allowed;
      for (int32_t t = 0; t < vocab->size(); ++t) {
        const bool in_mask = (mask[t >> 6] >> (t & 63)) & 1;
        ASSERT_EQ(in_mask, m.IsTokenAllowed(t)) << "token " << t << " '" << vocab->bytes(t) << "' at step "
                                                << step << " schema " << schema.dump();
        if (in_mask) allowed.push_back(t);
      }
      ASSERT_FALSE(allowed.empty()) << schema.dump();
      const std::string completion = m.CompletionBytes();
      {
        GrammarMatcher copy = m;
        ASSERT_TRUE(copy.AcceptBytes(completion)) << completion;
        ASSERT_TRUE(copy.IsComplete()) << completion;
      }
      int32_t pick = allowed[rng() % allowed.size()];
      if (step > 40) {  // head for the end
        if (m.IsComplete()) {
          pick = kEos;
        } else {
          pick = 4 + static_cast<uint8_t>(completion[0]);
        }
      }
      ASSERT_TRUE(m.AcceptToken(pick));
    }
  }
}

TEST(GrammarMask, MatchesSimulation) {
  const char* schemas[] = {
      R"({"type":"string","minLength":1,"maxLength":4})",
      R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0,"maximum":150}},"required":["name","age"],"additionalProperties":false})",
      R"({"type":"object","properties":{"a":{"type":"integer"},"ab":{"type":"boolean"}},"additionalProperties":{"type":"string"}})",
      R"({"type":"array","items":{"enum":["red","green",1,10,null]},"maxItems":5})",
      R"(true)",
      R"({"anyOf":[{"type":"object","properties":{"kind":{"const":"a"},"x":{"type":"number"}},"required":["kind"],"additionalProperties":false},{"type":"object","properties":{"kind":{"const":"b"},"tags":{"type":"array","items":{"type":"string"}}},"required":["kind"],"additionalProperties":false}]})",
  };
  uint64_t seed = 1;
  for (const char* s : schemas) CheckMaskAgainstSimulation(json::parse(s), seed++, 6);
}

// Random schemas from a pool of keywords: compiling either works or throws g4::Error (never
// crashes or hangs), and a compiled one always lets a walk reach a complete document.
json RandomSchema(std::mt19937_64& rng, int depth) {
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  if (depth > 3) return json{{"type", "integer"}};
  switch (pick(12)) {
    case 0: return json{{"type", "string"}, {"maxLength", pick(4)}, {"minLength", pick(3)}};
    case 1: return json{{"type", pick(2) ? "integer" : "number"}, {"minimum", pick(20) - 10}, {"maximum", pick(20) - 5}};
    case 2: return json{{"enum", json::array({"a", pick(3), nullptr})}};
    case 3: return json{{"anyOf", json::array({RandomSchema(rng, depth + 1), RandomSchema(rng, depth + 1)})}};
    case 4: return json{{"type", "array"}, {"items", RandomSchema(rng, depth + 1)}, {"minItems", pick(3)}, {"maxItems", pick(4)}};
    case 5: return json{{"$ref", "#"}};
    case 6: return json(pick(2) == 0);
    case 7: return json{{"type", json::array({"null", "boolean"})}};
    case 8: return json{{"oneOf", json::array({RandomSchema(rng, depth + 1), RandomSchema(rng, depth + 1)})}};
    case 9: return json{{"type", "object"}, {"pattern", "x"}};
    default: {
      json props = json::object();
      json required = json::array();
      for (int i = 0; i < pick(4); ++i) {
        std::string name(1, static_cast<char>('a' + pick(3)));
        props[name] = RandomSchema(rng, depth + 1);
        if (pick(2)) required.push_back(name);
      }
      json o = {{"type", "object"}, {"properties", props}, {"required", required}};
      if (pick(2)) o["additionalProperties"] = pick(2) ? json(false) : RandomSchema(rng, depth + 1);
      return o;
    }
  }
}

TEST(GrammarSchema, RandomSchemasNeverCrashOrStick) {
  std::mt19937_64 rng(7);
  int compiled = 0;
  std::vector<uint64_t> mask;
  for (int i = 0; i < 400; ++i) {
    const json schema = RandomSchema(rng, 0);
    std::shared_ptr<const JsonSchemaGrammar> g;
    try {
      g = JsonSchemaGrammar::Compile(schema);
    } catch (const Error&) {
      continue;
    }
    ++compiled;
    GrammarMatcher m(g, Vocab());
    for (int step = 0; step < 30; ++step) {
      m.FillMask(mask);
      std::vector<int32_t> allowed;
      for (int32_t t = 0; t < Vocab()->size(); ++t)
        if ((mask[t >> 6] >> (t & 63)) & 1) allowed.push_back(t);
      ASSERT_FALSE(allowed.empty()) << schema.dump();
      if (m.IsComplete() && rng() % 4 == 0) break;
      ASSERT_TRUE(m.AcceptToken(allowed[rng() % allowed.size()])) << schema.dump();
      if (m.IsTerminated()) break;
    }
    if (m.IsTerminated()) continue;
    const std::string rest = m.CompletionBytes();
    ASSERT_TRUE(m.AcceptBytes(rest)) << schema.dump();
    ASSERT_TRUE(m.IsComplete()) << schema.dump();
    ASSERT_TRUE(m.AcceptToken(kEos));
  }
  EXPECT_GT(compiled, 100);
}

TEST(GrammarMatcher, EndTokenRollbackAndSpecials) {
  auto g = JsonSchemaGrammar::Compile(json{{"type", "integer"}});
  GrammarMatcher m(g, Vocab());
  EXPECT_FALSE(m.AcceptToken(kEos));         // nothing yet
  EXPECT_FALSE(m.AcceptToken(Vocab()->size() - 1));  // <|turn>: special
  EXPECT_TRUE(m.AcceptBytes("12"));
  EXPECT_TRUE(m.IsComplete());
  EXPECT_TRUE(m.AcceptBytes("3"));
  EXPECT_TRUE(m.Rollback(1));
  EXPECT_TRUE(m.IsComplete());
  EXPECT_TRUE(m.AcceptToken(kEos));
  EXPECT_TRUE(m.IsTerminated());
  std::vector<uint64_t> mask;
  m.FillMask(mask);
  for (uint64_t w : mask) EXPECT_EQ(w, 0u);
  EXPECT_TRUE(m.Rollback(1));
  EXPECT_FALSE(m.IsTerminated());
  EXPECT_FALSE(m.Rollback(5));
}

TEST(GrammarVocabulary, SentencePiecePieces) {
  EXPECT_EQ(TokenVocabulary::PieceToBytes("\xE2\x96\x81the"), " the");
  EXPECT_EQ(TokenVocabulary::PieceToBytes("<0x0A>"), "\n");
  EXPECT_EQ(TokenVocabulary::PieceToBytes("<0xe9>"), "\xE9");
  EXPECT_EQ(TokenVocabulary::PieceToBytes("<|turn>"), "<|turn>");
  auto v = TokenVocabulary::FromPieces({"<pad>", "<eos>", "a", "<|\"|>", "<0x41>"}, {3, 3, 1, 4, 6}, {1});
  EXPECT_TRUE(v->is_special(0));
  EXPECT_TRUE(v->is_special(1));
  EXPECT_FALSE(v->is_special(2));
  EXPECT_TRUE(v->is_special(3));
  EXPECT_FALSE(v->is_special(4));
  EXPECT_EQ(v->bytes(4), "A");
}

}  // namespace
}  // namespace g4::grammar
