// Subcommands of the g4 CLI. Each registers its flags on the app and returns the function
// that runs it (exit code).
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace g4::cli {

using Runner = std::function<int()>;

Runner AddLogitsCommand(CLI::App& app);
Runner AddInfoCommand(CLI::App& app);
Runner AddTokenizeCommand(CLI::App& app);
Runner AddDetokenizeCommand(CLI::App& app);
Runner AddBenchCommand(CLI::App& app);
Runner AddRunCommand(CLI::App& app);
Runner AddChatCommand(CLI::App& app);
Runner AddServeCommand(CLI::App& app);
Runner AddPullCommand(CLI::App& app);
Runner AddListCommand(CLI::App& app);
Runner AddRmCommand(CLI::App& app);
Runner AddShowCommand(CLI::App& app);
Runner AddMmEmbedCommand(CLI::App& app);

}  // namespace g4::cli
