// Tokenizer speed on the real Gemma 4 vocabulary (262,144 pieces, 514,906 merges): loading it
// from tokenizer.json and from GGUF metadata, and encoding / decoding the 1,500 golden case texts
// (code, prose, 28 scripts, emoji, whitespace runs, control tokens).
//
// The vocabulary is build/vocab/gemma4/tokenizer.json under the repository (made by
// scripts/fetch_gemma4_vocab.sh); G4_GEMMA4_TOKENIZER_JSON overrides the path.
//   ./build/benchmarks/tokenizer_bench
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/gguf_writer.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;

const fs::path kRepo = fs::path(__FILE__).parent_path().parent_path();

std::string VocabPath() {
  const char* env = std::getenv("G4_GEMMA4_TOKENIZER_JSON");
  return env ? env : (kRepo / "build/vocab/gemma4/tokenizer.json").string();
}

struct Corpus {
  std::vector<std::string> texts;
  std::string all;  // the texts joined, for the one-long-text case
  size_t bytes = 0;
};

const Corpus& Cases() {
  static const Corpus corpus = [] {
    Corpus c;
    std::ifstream in(kRepo / "tests/data/tokenizer/cases.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      c.texts.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
      c.all += c.texts.back();
      c.bytes += c.texts.back().size();
    }
    if (c.texts.empty()) {
      std::cerr << "tokenizer_bench: no cases in tests/data/tokenizer/cases.jsonl\n";
      std::exit(1);
    }
    return c;
  }();
  return corpus;
}

const g4::Tokenizer& JsonTokenizer() {
  static const std::unique_ptr<g4::Tokenizer> tok = [] {
    if (!fs::exists(VocabPath())) {
      std::cerr << "tokenizer_bench: " << VocabPath()
                << " is missing; run scripts/fetch_gemma4_vocab.sh first\n";
      std::exit(1);
    }
    return g4::Tokenizer::FromHfJson(VocabPath());
  }();
  return *tok;
}

// The vocabulary as llama.cpp's converter writes it, in a temporary GGUF removed at exit.
const std::string& GgufPath() {
  struct Temp {
    std::string path;
    ~Temp() {
      std::error_code ec;
      fs::remove(path, ec);
    }
  };
  static const Temp temp{[] {
    const std::string path =
        (fs::temp_directory_path() / ("g4_tokenizer_bench_" + std::to_string(::getpid()) + ".gguf"))
            .string();
    g4::GgufWriter writer(path);
    g4::WriteGemma4VocabToGguf(JsonTokenizer(), writer);
    writer.Finish();
    return path;
  }()};
  return temp.path;
}

void BM_LoadTokenizerJson(benchmark::State& state) {
  const std::string path = VocabPath();
  JsonTokenizer();  // fails early, outside the timing, when the file is missing
  for (auto _ : state) benchmark::DoNotOptimize(g4::Tokenizer::FromHfJson(path));
}
BENCHMARK(BM_LoadTokenizerJson)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Opening the GGUF (parsing all of its metadata) plus building the tokenizer from it.
void BM_LoadGgufOpenAndTokenizer(benchmark::State& state) {
  const std::string& path = GgufPath();
  for (auto _ : state) {
    const std::unique_ptr<g4::GgufFile> gguf = g4::GgufFile::Open(path);
    benchmark::DoNotOptimize(g4::Tokenizer::FromGguf(*gguf));
  }
}
BENCHMARK(BM_LoadGgufOpenAndTokenizer)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Only the tokenizer's part, from an already open GGUF (what a model load adds).
void BM_LoadGgufTokenizerOnly(benchmark::State& state) {
  const std::unique_ptr<g4::GgufFile> gguf = g4::GgufFile::Open(GgufPath());
  for (auto _ : state) benchmark::DoNotOptimize(g4::Tokenizer::FromGguf(*gguf));
}
BENCHMARK(BM_LoadGgufTokenizerOnly)->Unit(benchmark::kMillisecond)->MinTime(2.0);

template <typename GetTokenizer>
void EncodeCases(benchmark::State& state, GetTokenizer get) {
  const g4::Tokenizer& tok = get();
  const Corpus& corpus = Cases();
  size_t tokens = 0;
  for (auto _ : state) {
    for (const std::string& text : corpus.texts) {
      const std::vector<int32_t> ids = tok.Encode(text);
      tokens += ids.size();
      benchmark::DoNotOptimize(ids.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * corpus.bytes));
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
}

void BM_EncodeCasesJson(benchmark::State& state) { EncodeCases(state, JsonTokenizer); }
BENCHMARK(BM_EncodeCasesJson)->Unit(benchmark::kMillisecond);

void BM_EncodeCasesGguf(benchmark::State& state) {
  static const std::unique_ptr<g4::Tokenizer> tok =
      g4::Tokenizer::FromGguf(*g4::GgufFile::Open(GgufPath()));
  EncodeCases(state, [] { return std::cref(*tok); });
}
BENCHMARK(BM_EncodeCasesGguf)->Unit(benchmark::kMillisecond);

// All case texts as one 0.5 MB string: long runs between special tokens.
void BM_EncodeOneLongText(benchmark::State& state) {
  const g4::Tokenizer& tok = JsonTokenizer();
  const std::string& text = Cases().all;
  for (auto _ : state) benchmark::DoNotOptimize(tok.Encode(text).data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_EncodeOneLongText)->Unit(benchmark::kMillisecond);

void BM_DecodeCases(benchmark::State& state) {
  const g4::Tokenizer& tok = JsonTokenizer();
  std::vector<std::vector<int32_t>> ids;
  for (const std::string& text : Cases().texts) ids.push_back(tok.Encode(text));
  for (auto _ : state) {
    for (const auto& v : ids) benchmark::DoNotOptimize(tok.Decode(v).data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * Cases().bytes));
}
BENCHMARK(BM_DecodeCases)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
