// g4 chat: an interactive multi-turn conversation. Commands: /image, /audio, /video PATH (attach
// to the next message), /think on|off, /system TEXT, /reset, /help, /exit. Ctrl-C stops the
// current answer without leaving.
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

constexpr const char* kHelp =
    "  /image PATH, /audio PATH, /video PATH   attach a file to your next message (repeatable)\n"
    "  /think on|off                          let the model think before answering\n"
    "  /system TEXT                           set the system instruction (empty: clear it)\n"
    "  /reset                                 start a new conversation\n"
    "  /help                                  this list\n"
    "  /exit                                  leave (also Ctrl-D); Ctrl-C stops an answer\n";

// "/image PATH" and friends: the kind, and the path after the command.
bool AttachCommand(const std::string& line, MediaFile* file) {
  for (MediaKind kind : {MediaKind::kImage, MediaKind::kAudio, MediaKind::kVideo}) {
    const std::string command = std::string("/") + (MediaFlagName(kind) + 2);
    if (line == command || StartsWith(line, command + " ")) {
      std::string path = line.size() > command.size() ? line.substr(command.size() + 1) : "";
      // Terminals quote dropped files with spaces in their names.
      if (path.size() >= 2 && (path[0] == '\'' || path[0] == '"') && path.back() == path[0]) {
        path = path.substr(1, path.size() - 2);
      }
      *file = {kind, path};
      return true;
    }
  }
  return false;
}

int Chat(GenerationFlags flags, const CLI::App& command) {
  OrderMediaFlags(command, &flags.media);
  std::vector<nlohmann::json> attached;  // media parts for the next user message
  if (!CommandLineMedia(flags, "chat", &attached)) return 1;
  std::unique_ptr<LoadedModel> model;
  std::unique_ptr<ChatSession> session;
  if (!OpenChat(flags, "chat", &model, &session)) return 1;
  if (!CheckEncoders(*model, flags.media.order, "chat")) return 1;
  std::signal(SIGINT, OnInterrupt);
  nlohmann::json history = nlohmann::json::array();
  std::string system = flags.system;
  std::fprintf(stderr, "g4 chat: /help lists the commands (/image PATH attaches an image); Ctrl-C stops an answer\n");
  if (!attached.empty()) std::fprintf(stderr, "(%zu file(s) attached to your first message)\n", attached.size());
  std::string line;
  while (true) {
    std::fputs("> ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      history = nlohmann::json::array();
      attached.clear();
      session->Reset();
      std::fprintf(stderr, "(conversation cleared)\n");
      continue;
    }
    if (line == "/think on" || line == "/think off") {
      flags.think = line == "/think on";
      std::fprintf(stderr, "(thinking %s)\n", flags.think ? "on" : "off");
      continue;
    }
    if (line == "/help") {
      std::fputs(kHelp, stderr);
      continue;
    }
    MediaFile file;
    if (AttachCommand(line, &file)) {
      nlohmann::json part;
      if (file.path.empty()) {
        std::fprintf(stderr, "usage: %s PATH\n", line.c_str());
      } else if (CheckEncoder(*model, file.kind, "chat") && MediaPart(file, "chat", &part)) {
        attached.push_back(std::move(part));
        std::fprintf(stderr, "(attached %s; it goes with your next message)\n", file.path.c_str());
      }
      continue;
    }
    if (StartsWith(line, "/system")) {
      system = line.size() > 8 ? line.substr(8) : "";
      std::fprintf(stderr, "(system instruction %s)\n", system.empty() ? "cleared" : "set");
      continue;
    }
    if (StartsWith(line, "/")) {
      std::fprintf(stderr, "unknown command %s; the commands are:\n%s", line.c_str(), kHelp);
      continue;
    }
    ChatRequest request;
    if (!ApplyGenerationFlags(flags, "chat", &request)) return 2;
    if (!system.empty()) request.messages.push_back({{"role", "system"}, {"content", system}});
    history.push_back({{"role", "user"}, {"content", UserContent(attached, line)}});
    const size_t n_attached = attached.size();
    attached.clear();
    for (const auto& m : history) request.messages.push_back(m);
    g_cancel = false;
    EventPrinter printer(flags);
    ChatResult result;
    Status st = session->Respond(request, std::ref(printer), &result, &g_cancel);
    if (!st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.message().c_str());
      if (n_attached > 0) std::fprintf(stderr, "(the message and its %zu attachment(s) were not kept)\n", n_attached);
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
  return [flags, sub] { return Chat(*flags, *sub); };
}

}  // namespace g4::cli
