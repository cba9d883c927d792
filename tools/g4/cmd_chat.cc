// g4 chat: an interactive multi-turn conversation. Commands: /think on|off, /system TEXT,
// /reset, /exit. Ctrl-C stops the current answer without leaving.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "generation_flags.h"

namespace g4::cli {
namespace {

std::atomic<bool> g_cancel{false};
void OnInterrupt(int) { g_cancel = true; }

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

int Chat(GenerationFlags flags) {
  std::unique_ptr<LoadedModel> model;
  std::unique_ptr<ChatSession> session;
  if (!OpenChat(flags, "chat", &model, &session)) return 1;
  std::signal(SIGINT, OnInterrupt);
  nlohmann::json history = nlohmann::json::array();
  std::string system = flags.system;
  std::fprintf(stderr, "g4 chat: /think on|off, /system TEXT, /reset, /exit; Ctrl-C stops an answer\n");
  std::string line;
  while (true) {
    std::fputs("> ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      history = nlohmann::json::array();
      session->Reset();
      std::fprintf(stderr, "(conversation cleared)\n");
      continue;
    }
    if (line == "/think on" || line == "/think off") {
      flags.think = line == "/think on";
      std::fprintf(stderr, "(thinking %s)\n", flags.think ? "on" : "off");
      continue;
    }
    if (StartsWith(line, "/system")) {
      system = line.size() > 8 ? line.substr(8) : "";
      std::fprintf(stderr, "(system instruction %s)\n", system.empty() ? "cleared" : "set");
      continue;
    }
    if (StartsWith(line, "/")) {
      std::fprintf(stderr, "unknown command %s (try /think on|off, /system TEXT, /reset, /exit)\n", line.c_str());
      continue;
    }
    ChatRequest request;
    if (!ApplyGenerationFlags(flags, "chat", &request)) return 2;
    if (!system.empty()) request.messages.push_back({{"role", "system"}, {"content", system}});
    history.push_back({{"role", "user"}, {"content", line}});
    for (const auto& m : history) request.messages.push_back(m);
    g_cancel = false;
    EventPrinter printer(flags);
    ChatResult result;
    Status st = session->Respond(request, std::ref(printer), &result, &g_cancel);
    if (!st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.message().c_str());
      history.erase(history.end() - 1);
      continue;
    }
    printer.Finish(result);
    nlohmann::json reply = {{"role", "assistant"}, {"content", result.content}};
    // Tool results are not run by the CLI: the conversation continues with the calls recorded.
    if (!result.reasoning.empty()) reply["reasoning_content"] = result.reasoning;
    if (!result.tool_calls.empty()) {
      reply["tool_calls"] = nlohmann::json::array();
      for (size_t i = 0; i < result.tool_calls.size(); ++i) {
        reply["tool_calls"].push_back({{"id", "call_" + std::to_string(i)},
                                       {"type", "function"},
                                       {"function", {{"name", result.tool_calls[i].name},
                                                     {"arguments", result.tool_calls[i].arguments_json}}}});
      }
    }
    history.push_back(reply);
  }
  return 0;
}

}  // namespace

Runner AddChatCommand(CLI::App& app) {
  auto flags = std::make_shared<GenerationFlags>();
  CLI::App* sub = app.add_subcommand("chat", "Interactive multi-turn chat");
  AddGenerationFlags(sub, flags.get());
  return [flags] { return Chat(*flags); };
}

}  // namespace g4::cli
