// g4 run: one prompt, one streamed answer.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>

#include "commands.h"
#include "generation_flags.h"

namespace g4::cli {
namespace {

std::atomic<bool> g_cancel{false};
void OnInterrupt(int) { g_cancel = true; }

struct RunArgs {
  CLI::App* command = nullptr;
  GenerationFlags flags;
  std::string prompt;
  bool print_prompt = false;
};

int Run(RunArgs& args) {
  OrderMediaFlags(*args.command, &args.flags.media);
  std::string prompt = args.prompt;
  if (prompt.empty() || prompt == "-") {  // read the prompt from stdin
    prompt.assign(std::istreambuf_iterator<char>(std::cin), {});
  }
  ChatRequest request;
  if (!ApplyGenerationFlags(args.flags, "run", &request)) return 2;
  std::vector<nlohmann::json> media;
  if (!CommandLineMedia(args.flags, "run", &media)) return 1;
  if (!args.flags.system.empty()) request.messages.push_back({{"role", "system"}, {"content", args.flags.system}});
  request.messages.push_back({{"role", "user"}, {"content", UserContent(media, prompt)}});

  std::unique_ptr<LoadedModel> model;
  std::unique_ptr<ChatSession> session;
  if (!OpenChat(args.flags, "run", &model, &session)) return 1;
  if (!CheckEncoders(*model, args.flags.media.order, "run")) return 1;
  if (args.print_prompt) {
    std::string text;
    Status st = session->RenderPrompt(request, &text);
    if (!st.ok()) {
      std::fprintf(stderr, "g4 run: %s\n", st.message().c_str());
      return 1;
    }
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  std::signal(SIGINT, OnInterrupt);
  EventPrinter printer(args.flags);
  ChatResult result;
  Status st = session->Respond(request, std::ref(printer), &result, &g_cancel);
  if (!st.ok()) {
    std::fprintf(stderr, "g4 run: %s\n", st.message().c_str());
    return 1;
  }
  printer.Finish(result);
  return 0;
}

}  // namespace

Runner AddRunCommand(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* sub = app.add_subcommand("run", "Answer one prompt, streaming the reply");
  args->command = sub;
  AddGenerationFlags(sub, &args->flags);
  sub->add_option("-p,--prompt", args->prompt, "the prompt (default or '-': read stdin)");
  sub->add_flag("--print-prompt", args->print_prompt, "print the rendered prompt instead of answering");
  return [args] { return Run(*args); };
}

}  // namespace g4::cli
