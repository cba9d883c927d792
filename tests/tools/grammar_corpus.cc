// Generates random documents for every schema in a folder with the grammar matcher, for an
// independent check by tests/tools/validate_json.mjs (ajv).
//
// At each step a uniformly random allowed token of the tiny golden model's vocabulary is taken
// (seeded). Past a token budget, only tokens that shorten the matcher's completion are taken,
// and past twice the budget the completion itself, byte by byte, so every document ends.
// Every chosen token is checked against the mask first; a token the mask allows but the matcher
// refuses, an empty mask or an unfinished document is an error (exit 1).
//
// usage: g4_grammar_corpus SCHEMA_DIR MODEL.gguf OUT_DIR [SAMPLES_PER_SCHEMA] [SEED]
// writes OUT_DIR/NAME.jsonl: one JSON string (the raw generated text) per line.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "grammar/grammar_matcher.h"
#include "model/gguf.h"

namespace fs = std::filesystem;
using g4::grammar::GrammarMatcher;
using g4::grammar::JsonSchemaGrammar;
using g4::grammar::TokenVocabulary;

namespace {

bool InMask(const std::vector<uint64_t>& mask, int32_t t) { return (mask[t >> 6] >> (t & 63)) & 1; }

std::string Generate(const std::shared_ptr<const JsonSchemaGrammar>& grammar,
                     const std::shared_ptr<const TokenVocabulary>& vocab, const std::vector<int32_t>& byte_token,
                     int32_t eos, std::mt19937_64& rng, int budget) {
  GrammarMatcher m(grammar, vocab);
  std::string text;
  std::vector<uint64_t> mask;
  for (int step = 0;; ++step) {
    if (step > 100000) g4::Fail("generation did not end");
    m.FillMask(mask);
    std::vector<int32_t> allowed;
    for (int32_t t = 0; t < vocab->size(); ++t)
      if (InMask(mask, t)) allowed.push_back(t);
    if (allowed.empty()) g4::Fail("empty token mask after ", text.size(), " bytes: ", text);
    int32_t pick = -1;
    if (step < budget) {
      pick = allowed[rng() % allowed.size()];
    } else {
      const std::string completion = m.CompletionBytes();
      if (completion.empty()) {
        pick = eos;
      } else if (step < 2 * budget) {
        std::vector<int32_t> shorter;
        for (int32_t t : allowed) {
          if (t == eos) continue;
          if (!m.AcceptToken(t)) g4::Fail("token ", t, " in the mask but refused after: ", text);
          if (m.CompletionBytes().size() < completion.size()) shorter.push_back(t);
          m.Rollback(1);
        }
        pick = shorter.empty() ? byte_token[static_cast<uint8_t>(completion[0])]
                               : shorter[rng() % shorter.size()];
      } else {
        pick = byte_token[static_cast<uint8_t>(completion[0])];
      }
    }
    if (!InMask(mask, pick)) g4::Fail("token ", pick, " chosen for the completion is not in the mask after: ", text);
    if (!m.AcceptToken(pick)) g4::Fail("token ", pick, " in the mask but refused after: ", text);
    if (pick == eos) break;
    text += vocab->bytes(pick);
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: g4_grammar_corpus SCHEMA_DIR MODEL.gguf OUT_DIR [SAMPLES] [SEED]\n";
    return 2;
  }
  const fs::path schema_dir = argv[1], out_dir = argv[3];
  const int samples = argc > 4 ? std::stoi(argv[4]) : 40;
  const uint64_t seed = argc > 5 ? std::stoull(argv[5]) : 1;
  try {
    auto gguf = g4::GgufFile::Open(argv[2]);
    const auto pieces = gguf->GetStringArray("tokenizer.ggml.tokens");
    std::vector<int64_t> types;
    if (gguf->Find("tokenizer.ggml.token_type")) types = gguf->GetIntArray("tokenizer.ggml.token_type");
    const int32_t eos = static_cast<int32_t>(gguf->GetUintOr("tokenizer.ggml.eos_token_id", 1));
    auto vocab = TokenVocabulary::FromPieces(pieces, types, {eos});
    // The single-byte token of each byte (the completion is fed byte by byte).
    std::vector<int32_t> byte_token(256, -1);
    for (int32_t t = 0; t < vocab->size(); ++t)
      if (!vocab->is_special(t) && vocab->bytes(t).size() == 1 && byte_token[static_cast<uint8_t>(vocab->bytes(t)[0])] < 0)
        byte_token[static_cast<uint8_t>(vocab->bytes(t)[0])] = t;
    for (int b = 0; b < 256; ++b)
      if (byte_token[b] < 0) g4::Fail("vocabulary has no token for byte ", b);

    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(schema_dir))
      if (e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    fs::create_directories(out_dir);
    size_t total = 0;
    for (size_t f = 0; f < files.size(); ++f) {
      std::ifstream in(files[f]);
      const nlohmann::json schema = nlohmann::json::parse(in);
      auto grammar = JsonSchemaGrammar::Compile(schema);
      std::ofstream out(out_dir / (files[f].stem().string() + ".jsonl"));
      for (int s = 0; s < samples; ++s) {
        std::mt19937_64 rng(seed * 1000003 + f * 1009 + static_cast<uint64_t>(s));
        const int budget = 5 + static_cast<int>(rng() % 80);
        std::string text;
        try {
          text = Generate(grammar, vocab, byte_token, eos, rng, budget);
        } catch (const g4::Error& e) {
          g4::Fail(files[f].filename().string(), " sample ", s, ": ", e.what());
        }
        out << nlohmann::json(text).dump() << "\n";
        ++total;
      }
    }
    std::cout << "wrote " << total << " documents for " << files.size() << " schemas to " << out_dir << "\n";
  } catch (const std::exception& e) {
    std::cerr << "g4_grammar_corpus: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
