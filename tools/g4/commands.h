// Subcommands of the g4 CLI. Each registers its flags on the app and returns the function
// that runs it (exit code).
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace g4::cli {

using Runner = std::function<int()>;

Runner AddLogitsCommand(CLI::App& app);
Runner AddInfoCommand(CLI::App& app);

}  // namespace g4::cli
