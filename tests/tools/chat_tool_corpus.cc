// Generates tool calls through the whole chat path (template with tool declarations, tokenizer,
// model, sampler, tool-call grammar, output parser) for an independent check of their arguments
// by tests/tools/validate_tool_calls.mjs (ajv).
//
// usage: g4_chat_tool_corpus TOOLS_JSON MODEL OUT_FILE SAMPLES SEED
// For every declared tool, SAMPLES answers with tool_choice naming it, then SAMPLES answers with
// tool_choice "required" (the model picks the tool), each with random sampling (temperature 1,
// no top-k/top-p, seeds SEED, SEED+1, ...) and a budget of 96 tokens, which a call must respect
// while still closing. Writes OUT_FILE: one line {"sample", "choice", "name", "arguments"} per
// call. Exit 1 on any error, parse error, answer without a call, or a call to another tool than
// the one named.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "corpus_session.h"
#include "g4/chat.h"

using nlohmann::json;

int main(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: g4_chat_tool_corpus TOOLS_JSON MODEL OUT_FILE SAMPLES SEED\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  std::stringstream text;
  text << in.rdbuf();
  const json tools = json::parse(text.str());
  const int samples = std::stoi(argv[4]);
  const uint64_t seed = std::stoull(argv[5]);

  std::unique_ptr<g4::LoadedModel> model;
  std::unique_ptr<g4::ChatSession> session;
  if (!g4::corpus::OpenSession(argv[2], 2048, &model, &session)) return 1;

  std::vector<json> choices;
  for (const json& t : tools) {
    const std::string name = t["function"]["name"];
    for (int i = 0; i < samples; ++i) choices.push_back({{"type", "function"}, {"function", {{"name", name}}}});
  }
  for (int i = 0; i < samples; ++i) choices.push_back("required");

  std::ofstream out(argv[3]);
  int failures = 0, calls = 0;
  for (size_t i = 0; i < choices.size(); ++i) {
    g4::ChatRequest request;
    request.messages = {{{"role", "user"}, {"content", "Please use one of your tools."}}};
    request.tools = tools;
    request.tool_choice = choices[i];
    request.max_tokens = 96;
    request.sampling.temperature = 1.0f;
    request.sampling.top_k = 0;
    request.sampling.top_p = 1.0f;
    request.sampling.seed = seed + i;
    g4::ChatResult result;
    const g4::Status st = session->Respond(request, {}, &result);
    const std::string where = "sample " + std::to_string(i) + " (" + choices[i].dump() + ")";
    if (!st.ok()) {
      std::cerr << where << ": " << st.message() << "\n";
      ++failures;
      continue;
    }
    for (const std::string& e : result.errors) {
      std::cerr << where << ": " << e << "\n";
      ++failures;
    }
    if (result.tool_calls.empty()) {
      std::cerr << where << ": no tool call; finish " << result.finish_reason << ", content: " << result.content << "\n";
      ++failures;
    }
    for (size_t k = 0; k < result.tool_calls.size(); ++k) {
      const g4::ChatToolCall& call = result.tool_calls[k];
      if (k == 0 && choices[i].is_object() && call.name != choices[i]["function"]["name"]) {
        std::cerr << where << ": called " << call.name << "\n";
        ++failures;
      }
      out << json{{"sample", i}, {"choice", choices[i]}, {"name", call.name}, {"arguments", json::parse(call.arguments_json)}}.dump()
          << "\n";
      ++calls;
    }
  }
  std::cout << "wrote " << calls << " tool calls from " << choices.size() << " answers to " << argv[3] << "\n";
  return failures == 0 ? 0 : 1;
}
