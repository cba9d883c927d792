// g4: run Gemma 4 models locally. Subcommands live in cmd_*.cc.
#include <cstdio>
#include <map>
#include <string>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"g4 - run Google's Gemma 4 models locally"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "g4 0.1.0");
  std::map<CLI::App*, g4::cli::Runner> runners;
  auto add = [&](g4::cli::Runner (*adder)(CLI::App&)) {
    const size_t before = app.get_subcommands({}).size();
    g4::cli::Runner r = adder(app);
    runners[app.get_subcommands({})[before]] = std::move(r);
  };
  add(g4::cli::AddLogitsCommand);
  add(g4::cli::AddInfoCommand);
  add(g4::cli::AddTokenizeCommand);
  add(g4::cli::AddDetokenizeCommand);
  add(g4::cli::AddBenchCommand);
  add(g4::cli::AddRunCommand);
  add(g4::cli::AddChatCommand);
  add(g4::cli::AddServeCommand);
  add(g4::cli::AddPullCommand);
  add(g4::cli::AddListCommand);
  add(g4::cli::AddRmCommand);
  add(g4::cli::AddShowCommand);
  add(g4::cli::AddMmEmbedCommand);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto& [sub, run] : runners) {
    if (sub->parsed()) return run();
  }
  return 1;
}
