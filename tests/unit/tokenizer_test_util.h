// Shared by the tokenizer tests: the golden cases and the real Gemma 4 vocabulary, loaded once per
// process. The vocabulary is not in the repository: scripts/fetch_gemma4_vocab.sh makes it (the
// test scripts run it before ctest); a missing file fails the tests, it never skips them.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/gguf_writer.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/tokenizer.h"

namespace g4::tokenizer_test {

namespace fs = std::filesystem;

inline const std::string kVocabJson = G4_GEMMA4_TOKENIZER_JSON;
inline const std::string kTokenizerData = std::string(G4_TEST_DATA_DIR) + "/tokenizer";
inline const std::string kModels = std::string(G4_TEST_DATA_DIR) + "/models";

struct Case {
  std::string text;
  std::vector<int32_t> ids;
  std::string decoded;
};

// golden/tokenizer/cases.jsonl: 1,500 {text, ids, decoded} made with tokenizers.js.
inline const std::vector<Case>& GoldenCases() {
  static const std::vector<Case> cases = [] {
    std::vector<Case> out;
    std::ifstream in(kTokenizerData + "/cases.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const nlohmann::json j = nlohmann::json::parse(line);
      out.push_back({j["text"].get<std::string>(), j["ids"].get<std::vector<int32_t>>(),
                     j["decoded"].get<std::string>()});
    }
    return out;
  }();
  return cases;
}

// golden/tokenizer/ollama-gemma4-cases.json: 28 [text, ids] pairs from Ollama's tests.
inline const std::vector<Case>& OllamaCases() {
  static const std::vector<Case> cases = [] {
    std::vector<Case> out;
    std::ifstream in(kTokenizerData + "/ollama-gemma4-cases.json");
    const nlohmann::json j = nlohmann::json::parse(in);
    for (const nlohmann::json& c : j) {
      out.push_back({c[0].get<std::string>(), c[1].get<std::vector<int32_t>>(), ""});
    }
    return out;
  }();
  return cases;
}

inline std::string MissingVocabMessage() {
  return "the Gemma 4 vocabulary " + kVocabJson +
         " is missing: run scripts/fetch_gemma4_vocab.sh " + kVocabJson +
         " (scripts/test.sh does this before ctest)";
}

// The real Gemma 4 tokenizer.json, loaded once. Null (with a test failure) when not fetched.
inline const Tokenizer* Gemma4Json() {
  static const std::unique_ptr<Tokenizer> tok = []() -> std::unique_ptr<Tokenizer> {
    if (!fs::exists(kVocabJson)) return nullptr;
    return Tokenizer::FromHfJson(kVocabJson);
  }();
  if (!tok) ADD_FAILURE() << MissingVocabMessage();
  return tok.get();
}

// A GGUF holding only the tokenizer.ggml.* keys written from the Gemma 4 tokenizer.json, as
// llama.cpp's converter writes them; made once per process and removed at exit.
inline const std::string& Gemma4GgufPath() {
  struct TempGguf {
    std::string path;
    ~TempGguf() {
      std::error_code ec;
      if (!path.empty()) fs::remove(path, ec);
    }
  };
  static const TempGguf file{[]() -> std::string {
    const Tokenizer* json = Gemma4Json();
    if (json == nullptr) return "";
    const std::string path =
        (fs::path(testing::TempDir()) / ("g4_tok_gemma4_" + std::to_string(::getpid()) + ".gguf"))
            .string();
    GgufWriter writer(path);
    writer.SetString("general.architecture", "gemma4");
    WriteGemma4VocabToGguf(*json, writer);
    writer.Finish();
    return path;
  }()};
  return file.path;
}

inline const Tokenizer* Gemma4Gguf() {
  static const std::unique_ptr<Tokenizer> tok = []() -> std::unique_ptr<Tokenizer> {
    const std::string& path = Gemma4GgufPath();
    if (path.empty()) return nullptr;
    return Tokenizer::FromGguf(*GgufFile::Open(path));
  }();
  if (!tok) ADD_FAILURE() << MissingVocabMessage();
  return tok.get();
}

// Random valid UTF-8 mixing code points of every length, whitespace runs and special-token
// strings: encoding then decoding without clean-up must give the text back exactly. Leaves out
// '▁' (U+2581), which the tokenizer, like every Gemma tokenizer, cannot tell from a space.
inline std::string RandomText(std::mt19937& rng) {
  static const char* const kFragments[] = {
      " ", "  ", "\n", "\n\n\n", "\t", "\r\n", "<|turn>", "<turn|>", "<bos>", "<|\"|>",
      "<unused5>", "<b>", "hello", " world", "<", ">", "|"};
  std::uniform_int_distribution<int> kind(0, 9), len(0, 40);
  std::string out;
  const int n = len(rng);
  for (int i = 0; i < n; ++i) {
    uint32_t cp;
    switch (kind(rng)) {
      case 0:
      case 1:
        out += kFragments[std::uniform_int_distribution<size_t>(
            0, std::size(kFragments) - 1)(rng)];
        continue;
      case 2:
      case 3:
      case 4:
        cp = std::uniform_int_distribution<uint32_t>(0x20, 0x7E)(rng);
        break;
      case 5:
        cp = std::uniform_int_distribution<uint32_t>(0x80, 0x7FF)(rng);
        break;
      case 6:
      case 7:
        cp = std::uniform_int_distribution<uint32_t>(0x800, 0xFFFD)(rng);
        if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0x2581) cp = 0x4E2D;
        break;
      case 8:
        cp = std::uniform_int_distribution<uint32_t>(0x10000, 0x10FFFF)(rng);
        break;
      default:
        cp = std::uniform_int_distribution<uint32_t>(0, 0x1F)(rng);
        break;
    }
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

inline std::string IdsToString(const std::vector<int32_t>& ids) {
  return nlohmann::json(ids).dump();
}

}  // namespace g4::tokenizer_test
