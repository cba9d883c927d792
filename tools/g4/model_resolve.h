// The hooks `run`, `chat` (and later `serve`) call around loading: a model name resolved through
// the store (pulled on first use), and the memory check before the weights are read.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "g4/engine.h"

namespace g4::cli {

// --store DIR: the model store folder ("" = $G4_HOME, else $XDG_CACHE_HOME/g4, else ~/.cache/g4).
void AddStoreOption(CLI::App* sub, std::string* store);

// `model` is a path (returned as is) or a model name (gemma4:e2b, hf://OWNER/REPO[:QUANT]) looked
// up in the store under `store_dir` ("" = default), pulled when missing. Prints the error and
// returns false on failure.
bool ResolveModelArgument(const std::string& model, const std::string& store_dir, const char* command,
                          std::string* path);

// Refuses (message on stderr, false) when the session's estimated memory does not fit in the
// memory available, suggesting a context that fits or a smaller quant; `skip` turns it off.
bool CheckMemoryBeforeRun(const LoadedModel& model, const std::string& model_name, int context, int threads,
                          bool skip, const char* command);

}  // namespace g4::cli
