// Generates JSON answers through the whole chat path (template, tokenizer, model, sampler,
// grammar, output parser) for every schema in a folder, for an independent check by
// tests/tools/validate_json.mjs (ajv).
//
// usage: g4_chat_json_corpus SCHEMA_DIR MODEL OUT_DIR SAMPLES SEED [--think]
// writes OUT_DIR/NAME.jsonl: one JSON string (the answer's content) per line. Random sampling
// (temperature 1, no top-k/top-p) with seeds SEED, SEED+1, ...; a budget of 64 tokens, which the
// generator must respect while still closing the document. Exit 1 on any error or on an answer
// that did not finish with "stop".
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "corpus_session.h"
#include "g4/chat.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: g4_chat_json_corpus SCHEMA_DIR MODEL OUT_DIR SAMPLES SEED [--think]\n";
    return 2;
  }
  const fs::path schema_dir = argv[1], out_dir = argv[3];
  const int samples = std::stoi(argv[4]);
  const uint64_t seed = std::stoull(argv[5]);
  const bool think = argc > 6 && std::string(argv[6]) == "--think";

  std::unique_ptr<g4::LoadedModel> model;
  std::unique_ptr<g4::ChatSession> session;
  if (!g4::corpus::OpenSession(argv[2], 1024, &model, &session)) return 1;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(schema_dir)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  fs::create_directories(out_dir);
  int failures = 0, total = 0;
  for (const fs::path& file : files) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    const nlohmann::json schema = nlohmann::json::parse(text.str());
    std::ofstream out(out_dir / (file.stem().string() + ".jsonl"));
    for (int i = 0; i < samples; ++i) {
      g4::ChatRequest request;
      request.messages = {{{"role", "user"}, {"content", "Answer in JSON: " + file.stem().string()}}};
      request.json_schema = schema;
      request.thinking = think;
      request.max_tokens = 64;
      request.sampling.temperature = 1.0f;
      request.sampling.top_k = 0;
      request.sampling.top_p = 1.0f;
      request.sampling.seed = seed + static_cast<uint64_t>(i);
      g4::ChatResult result;
      const g4::Status st = session->Respond(request, {}, &result);
      if (!st.ok()) {
        std::cerr << file.filename().string() << " sample " << i << ": " << st.message() << "\n";
        ++failures;
        continue;
      }
      if (result.finish_reason != "stop") {
        std::cerr << file.filename().string() << " sample " << i << ": finished with " << result.finish_reason
                  << ": " << result.content << "\n";
        ++failures;
      }
      out << nlohmann::json(result.content).dump() << "\n";
      ++total;
    }
  }
  std::cout << "wrote " << total << " answers for " << files.size() << " schemas to " << out_dir.string() << "\n";
  return failures == 0 ? 0 : 1;
}
