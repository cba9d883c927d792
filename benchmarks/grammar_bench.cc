// Token-mask cost of the JSON-schema grammar over a 262,144-token vocabulary.
//
// Uses the real Gemma 4 vocabulary when build/vocab/gemma4/tokenizer.json exists (made by
// scripts/fetch_gemma4_vocab.sh; G4_GEMMA4_TOKENIZER_JSON overrides the path), otherwise a
// synthetic vocabulary of the same size with plausible pieces (words with and without a leading
// space, punctuation runs with quotes, digits, whitespace runs, CJK, byte tokens).
//
// Each benchmark puts a matcher in one typical state and measures FillMask (the per-token cost
// the generation loop pays). The one-time cost of building the vocabulary trie and the
// per-lexer-state string caches is reported by BM_VocabularyBuild / BM_StringCacheBuild.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/gemma_call_grammar.h"
#include "grammar/gemma_call_matcher.h"
#include "grammar/grammar_matcher.h"
#include "grammar/json_schema.h"
#include "grammar/token_vocabulary.h"

namespace {

using g4::grammar::GrammarMatcher;
using g4::grammar::JsonSchemaGrammar;
using g4::grammar::TokenVocabulary;
using nlohmann::json;

constexpr int kVocabSize = 262144;

struct Pieces {
  std::vector<std::string> pieces;
  std::vector<int64_t> types;
  std::string source;
};

Pieces LoadPieces() {
  Pieces out;
  const char* env = std::getenv("G4_GEMMA4_TOKENIZER_JSON");
  const std::string path = env ? env : "build/vocab/gemma4/tokenizer.json";
  std::ifstream in(path);
  if (in) {
    const json doc = json::parse(in);
    const json& vocab = doc.at("model").at("vocab");
    out.pieces.resize(vocab.size());
    out.types.assign(vocab.size(), 1);
    for (auto it = vocab.begin(); it != vocab.end(); ++it) out.pieces.at(it.value().get<size_t>()) = it.key();
    // Added tokens: special ones are control tokens; the others user-defined (so <unusedN> and
    // <mask> are kept out of JSON while "\n\n" and space runs stay ordinary text).
    for (const auto& t : doc.at("added_tokens"))
      out.types.at(t.at("id").get<size_t>()) = t.value("special", false) ? 3 : 4;
    out.source = path;
    return out;
  }
  // Synthetic: deterministic and shaped like a SentencePiece vocabulary.
  std::mt19937_64 rng(42);
  out.pieces = {"<pad>", "<eos>", "<bos>", "<unk>"};
  out.types = {3, 3, 3, 2};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    out.pieces.push_back(buf);
    out.types.push_back(6);
  }
  const std::string letters = "etaoinshrdlcumwfgypbvkjxqz";
  const std::string punct = "\"',.:;!?()[]{}-_/\\@#$%^&*+=<>|`~";
  const char* cjk[] = {"\xE7\x9A\x84", "\xE4\xB8\x80", "\xE6\x98\xAF", "\xE4\xBA\x86", "\xE3\x81\xAE", "\xEB\x8A\x94"};
  std::vector<std::string> seen;
  while (static_cast<int>(out.pieces.size()) < kVocabSize) {
    const int kind = static_cast<int>(rng() % 100);
    std::string p;
    if (kind < 55) {  // word, usually with a leading space
      if (rng() % 3) p = "\xE2\x96\x81";
      const int len = 1 + static_cast<int>(rng() % 9);
      for (int i = 0; i < len; ++i) p += letters[std::min<size_t>(rng() % 26, rng() % 26)];
      if (rng() % 4 == 0) p[p.size() - 1] = static_cast<char>(std::toupper(p.back()));
    } else if (kind < 70) {  // punctuation runs, quotes included
      const int len = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < len; ++i) p += punct[rng() % punct.size()];
      if (rng() % 2) p += letters[rng() % 26];
    } else if (kind < 75) {  // whitespace runs
      const int len = 1 + static_cast<int>(rng() % 16);
      for (int i = 0; i < len; ++i) p += (rng() % 4 == 0) ? "\n" : "\xE2\x96\x81";
    } else if (kind < 80) {  // digits with punctuation
      p = std::to_string(rng() % 10);
      if (rng() % 2) p += punct[rng() % punct.size()];
    } else {  // CJK / other scripts
      const int len = 1 + static_cast<int>(rng() % 3);
      for (int i = 0; i < len; ++i) p += cjk[rng() % 6];
      p += std::to_string(out.pieces.size());  // keep them distinct
    }
    out.pieces.push_back(p);
    out.types.push_back(1);
  }
  out.source = "synthetic";
  return out;
}

const std::shared_ptr<const TokenVocabulary>& Vocab() {
  static const std::shared_ptr<const TokenVocabulary> vocab = [] {
    Pieces p = LoadPieces();
    std::cerr << "grammar_bench: vocabulary " << p.source << " (" << p.pieces.size() << " tokens)\n";
    return std::shared_ptr<const TokenVocabulary>(TokenVocabulary::FromPieces(p.pieces, p.types, {1, 106}));
  }();
  return vocab;
}

const json& PersonSchema() {
  static const json s = json::parse(R"({
    "type":"object",
    "properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0},
                  "bio":{"type":"string","maxLength":200},
                  "tags":{"type":"array","items":{"enum":["a","b","c"]}}},
    "required":["name","age"],"additionalProperties":false})");
  return s;
}

// Times m.FillMask (after one call that warms the vocabulary caches); reports the allowed count.
template <typename Matcher>
void TimeFillMask(benchmark::State& state, const Matcher& m) {
  std::vector<uint64_t> mask;
  m.FillMask(mask);
  for (auto _ : state) {
    m.FillMask(mask);
    benchmark::DoNotOptimize(mask.data());
  }
  size_t allowed = 0;
  for (uint64_t w : mask) allowed += static_cast<size_t>(__builtin_popcountll(w));
  state.counters["allowed"] = static_cast<double>(allowed);
}

void RunMask(benchmark::State& state, const std::shared_ptr<const JsonSchemaGrammar>& grammar,
             const std::string& prefix) {
  GrammarMatcher m(grammar, Vocab());
  if (!m.AcceptBytes(prefix)) return state.SkipWithError("prefix rejected");
  TimeFillMask(state, m);
}

void BM_VocabularyBuild(benchmark::State& state) {
  Pieces p = LoadPieces();
  for (auto _ : state) {
    auto v = TokenVocabulary::FromPieces(p.pieces, p.types, {1});
    benchmark::DoNotOptimize(v.get());
  }
}
BENCHMARK(BM_VocabularyBuild)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_StringCacheBuild(benchmark::State& state) {
  Pieces p = LoadPieces();
  for (auto _ : state) {
    state.PauseTiming();
    auto v = TokenVocabulary::FromPieces(p.pieces, p.types, {1});
    state.ResumeTiming();
    benchmark::DoNotOptimize(&v->StringCache(g4::grammar::StringMode::kValue, g4::grammar::kStrNormal));
  }
}
BENCHMARK(BM_StringCacheBuild)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_Mask_InsideStringValue(benchmark::State& state) {
  RunMask(state, JsonSchemaGrammar::Compile(PersonSchema()), "{\"name\": \"Hello wor");
}
BENCHMARK(BM_Mask_InsideStringValue)->Unit(benchmark::kMicrosecond);

void BM_Mask_InsideStringMaxLength(benchmark::State& state) {
  RunMask(state, JsonSchemaGrammar::Compile(PersonSchema()), "{\"name\":\"x\",\"age\":3,\"bio\":\"" + std::string(195, 'a'));
}
BENCHMARK(BM_Mask_InsideStringMaxLength)->Unit(benchmark::kMicrosecond);

void BM_Mask_ObjectKeyStart(benchmark::State& state) {
  RunMask(state, JsonSchemaGrammar::Compile(PersonSchema()), "{");
}
BENCHMARK(BM_Mask_ObjectKeyStart)->Unit(benchmark::kMicrosecond);

void BM_Mask_AfterColon(benchmark::State& state) {
  RunMask(state, JsonSchemaGrammar::Compile(PersonSchema()), "{\"name\":");
}
BENCHMARK(BM_Mask_AfterColon)->Unit(benchmark::kMicrosecond);

void BM_Mask_InsideNumber(benchmark::State& state) {
  RunMask(state, JsonSchemaGrammar::Compile(PersonSchema()), "{\"name\":\"x\",\"age\":4");
}
BENCHMARK(BM_Mask_InsideNumber)->Unit(benchmark::kMicrosecond);

void BM_Mask_EnumInArray(benchmark::State& state) {
  RunMask(state, JsonSchemaGrammar::Compile(PersonSchema()), "{\"name\":\"x\",\"age\":4,\"tags\":[\"a\",");
}
BENCHMARK(BM_Mask_EnumInArray)->Unit(benchmark::kMicrosecond);

void BM_Mask_AnyJsonValueStart(benchmark::State& state) {
  RunMask(state, JsonSchemaGrammar::AnyJson(), "{\"a\": [1, ");
}
BENCHMARK(BM_Mask_AnyJsonValueStart)->Unit(benchmark::kMicrosecond);

void BM_Mask_AnyJsonKey(benchmark::State& state) {
  RunMask(state, JsonSchemaGrammar::AnyJson(), "{\"a\": 1, \"some_k");
}
BENCHMARK(BM_Mask_AnyJsonKey)->Unit(benchmark::kMicrosecond);

void BM_Mask_KeyDeclaredOrAdditional(benchmark::State& state) {
  // A key that may still become a declared name while unlisted keys are allowed: each token
  // containing a quote is checked on its own.
  json s = PersonSchema();
  s["additionalProperties"] = json{{"type", "string"}};
  RunMask(state, JsonSchemaGrammar::Compile(s), "{\"na");
}
BENCHMARK(BM_Mask_KeyDeclaredOrAdditional)->Unit(benchmark::kMicrosecond);

// Greedy longest-match tokenization over the vocabulary trie (empty if some byte has no token).
std::vector<int32_t> GreedyTokens(const std::string& text) {
  std::vector<int32_t> tokens;
  const auto& trie = Vocab()->trie();
  for (size_t pos = 0; pos < text.size();) {
    int32_t best = -1;
    size_t best_len = 0;
    uint32_t node = 0;
    for (size_t len = 1; pos + len <= text.size(); ++len) {
      uint32_t child = 0;
      for (uint32_t c = node + 1; c < trie.end(node); c = trie.end(c))
        if (trie.byte(c) == static_cast<uint8_t>(text[pos + len - 1])) child = c;
      if (child == 0) break;
      node = child;
      if (trie.entry_end(node) > trie.entry_begin(node)) {
        best = trie.token(trie.entry_begin(node));
        best_len = len;
      }
    }
    if (best < 0) return {};
    tokens.push_back(best);
    pos += best_len;
  }
  return tokens;
}

// The per-token average of FillMask + AcceptToken over a token sequence.
template <typename Matcher>
void TimeMaskAndAccept(benchmark::State& state, const std::function<Matcher()>& make, const std::vector<int32_t>& tokens) {
  std::vector<uint64_t> mask;
  for (auto _ : state) {
    Matcher m = make();
    for (int32_t t : tokens) {
      m.FillMask(mask);
      if (!((mask[t >> 6] >> (t & 63)) & 1) || !m.AcceptToken(t)) return state.SkipWithError("token refused");
    }
  }
  state.counters["tokens"] = static_cast<double>(tokens.size());
  state.counters["per_token_us"] = benchmark::Counter(static_cast<double>(tokens.size()),
                                                      benchmark::Counter::kIsIterationInvariantRate |
                                                          benchmark::Counter::kInvert);
}

void BM_MaskAndAccept_Document(benchmark::State& state) {
  // A whole document generated token by token with greedy tokenization of a fixed text: the
  // average of FillMask + AcceptToken per token over all the states it passes through.
  const std::string doc = R"({"name": "Ada Lovelace, mathematician", "age": 36, "bio": "Wrote the first algorithm intended for a machine.", "tags": ["a", "c"]})";
  auto grammar = JsonSchemaGrammar::Compile(PersonSchema());
  const auto& vocab = Vocab();
  const std::vector<int32_t> tokens = GreedyTokens(doc);
  if (tokens.empty()) return state.SkipWithError("cannot tokenize");
  TimeMaskAndAccept<GrammarMatcher>(state, [&] { return GrammarMatcher(grammar, vocab); }, tokens);
}
BENCHMARK(BM_MaskAndAccept_Document)->Unit(benchmark::kMillisecond);

// ---- Gemma tool calls (grammar/gemma_call_matcher.h) ----------------------------------------
// The mask per token inside <|tool_call>...<tool_call|>, in typical states. Needs the real
// vocabulary (the <|"|> and <tool_call|> tokens); skipped with the synthetic one.

const std::shared_ptr<const g4::grammar::GemmaCallGrammar>& CallGrammar() {
  static const auto g = g4::grammar::GemmaCallGrammar::Compile(json::parse(R"([
    {"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{
      "city":{"type":"string","maxLength":60},"unit":{"enum":["celsius","fahrenheit"]},
      "days":{"type":"integer","minimum":1,"maximum":14}},"required":["city"],"additionalProperties":false}}},
    {"type":"function","function":{"name":"get_time"}},
    {"type":"function","function":{"name":"search","parameters":{"type":"object","properties":{
      "query":{"type":"string"},"filters":{"type":"object","properties":{
        "tags":{"type":"array","items":{"type":"string"}},"exact":{"type":"boolean"}}}},
      "required":["query"]}}}])"));
  return g;
}

int32_t PieceId(const std::string& piece) {
  for (int32_t id = 0; id < Vocab()->size(); ++id)
    if (Vocab()->is_special(id) && Vocab()->bytes(id) == piece) return id;
  return -1;
}

// prefix in units: ' is <|"|>.
void RunCallMask(benchmark::State& state, std::string prefix) {
  const g4::grammar::GemmaCallTokenIds ids{PieceId("<|\"|>"), PieceId("<tool_call|>")};
  if (ids.quote < 0 || ids.call_end < 0)
    return state.SkipWithError("the vocabulary has no <|\"|> / <tool_call|> tokens (synthetic vocabulary)");
  for (char& c : prefix)
    if (c == '\'') c = static_cast<char>(g4::grammar::kUnitQuote);
  g4::grammar::GemmaCallMatcher m(CallGrammar(), Vocab(), ids);
  if (!prefix.empty() && !m.AcceptUnits(prefix)) return state.SkipWithError("prefix rejected");
  TimeFillMask(state, m);
}

void BM_CallMask_Start(benchmark::State& state) { RunCallMask(state, ""); }
BENCHMARK(BM_CallMask_Start)->Unit(benchmark::kMicrosecond);
void BM_CallMask_Name(benchmark::State& state) { RunCallMask(state, "call:get_"); }
BENCHMARK(BM_CallMask_Name)->Unit(benchmark::kMicrosecond);
void BM_CallMask_KeyStart(benchmark::State& state) { RunCallMask(state, "call:get_weather{"); }
BENCHMARK(BM_CallMask_KeyStart)->Unit(benchmark::kMicrosecond);
void BM_CallMask_InsideString(benchmark::State& state) { RunCallMask(state, "call:get_weather{city:'San Fr"); }
BENCHMARK(BM_CallMask_InsideString)->Unit(benchmark::kMicrosecond);
void BM_CallMask_InsideStringMaxLength(benchmark::State& state) {
  RunCallMask(state, "call:get_weather{city:'" + std::string(55, 'a'));
}
BENCHMARK(BM_CallMask_InsideStringMaxLength)->Unit(benchmark::kMicrosecond);
void BM_CallMask_InsideNumber(benchmark::State& state) { RunCallMask(state, "call:get_weather{city:'Paris',days:1"); }
BENCHMARK(BM_CallMask_InsideNumber)->Unit(benchmark::kMicrosecond);
void BM_CallMask_EnumValue(benchmark::State& state) { RunCallMask(state, "call:get_weather{city:'Paris',unit:'cel"); }
BENCHMARK(BM_CallMask_EnumValue)->Unit(benchmark::kMicrosecond);
void BM_CallMask_NestedArray(benchmark::State& state) { RunCallMask(state, "call:search{query:'x',filters:{tags:['a',"); }
BENCHMARK(BM_CallMask_NestedArray)->Unit(benchmark::kMicrosecond);
void BM_CallMask_AfterArguments(benchmark::State& state) { RunCallMask(state, "call:get_weather{city:'Paris'}"); }
BENCHMARK(BM_CallMask_AfterArguments)->Unit(benchmark::kMicrosecond);
void BM_CallMaskAndAccept_Call(benchmark::State& state) {
  // A whole call token by token (greedy tokenization between the <|"|> tokens): the average of
  // FillMask + AcceptToken per token.
  const g4::grammar::GemmaCallTokenIds ids{PieceId("<|\"|>"), PieceId("<tool_call|>")};
  if (ids.quote < 0 || ids.call_end < 0) return state.SkipWithError("synthetic vocabulary");
  std::vector<int32_t> tokens;
  const std::vector<std::string> parts = {"call:get_weather{city:", "San Francisco, California", ",unit:", "celsius",
                                          ",days:3}"};
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i == 2 || i == 4) tokens.push_back(ids.quote);  // closes a string
    const std::vector<int32_t> t = GreedyTokens(parts[i]);
    if (t.empty()) return state.SkipWithError("cannot tokenize");
    tokens.insert(tokens.end(), t.begin(), t.end());
    if (i == 0 || i == 2) tokens.push_back(ids.quote);  // opens one
  }
  tokens.push_back(ids.call_end);
  using g4::grammar::GemmaCallMatcher;
  TimeMaskAndAccept<GemmaCallMatcher>(state, [&] { return GemmaCallMatcher(CallGrammar(), Vocab(), ids); }, tokens);
}
BENCHMARK(BM_CallMaskAndAccept_Call)->Unit(benchmark::kMillisecond);

void BM_CallStringCacheBuild(benchmark::State& state) {
  Pieces p = LoadPieces();
  for (auto _ : state) {
    state.PauseTiming();
    auto v = TokenVocabulary::FromPieces(p.pieces, p.types, {1});
    state.ResumeTiming();
    benchmark::DoNotOptimize(&v->StringCache(g4::grammar::StringMode::kGemma, g4::grammar::kStrNormal));
  }
}
BENCHMARK(BM_CallStringCacheBuild)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
