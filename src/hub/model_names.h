// Model names g4 understands besides file paths: short aliases (gemma4:e2b, gemma4:e4b:q8_0, ...)
// and full Hugging Face references (hf://OWNER/REPO[:FILE_OR_QUANT]). Every alias is one row of
// kModelAliases (model_names.cc), the table the README repeats.
#pragma once

#include <string>
#include <vector>

namespace g4::hub {

struct AliasEntry {
  const char* name;         // "gemma4:e2b:q8_0"
  const char* repo;         // "ggml-org/gemma-4-E2B-it-GGUF"
  const char* selector;     // quant or file inside the repo ("q8_0"); "" for a safetensors checkpoint
  const char* description;  // one line for `g4 pull --list` and the README
};

// The alias table; a size's default (e.g. "gemma4:e2b") is listed first among its rows.
const std::vector<AliasEntry>& ModelAliases();

// A resolved model name: which repository, and which file or quant in it.
struct ModelRef {
  std::string name;      // as the user should see it: the alias, or the canonical hf:// form
  std::string repo;      // "OWNER/REPO"
  std::string selector;  // "" (the repo's only model), a quant ("q4_0", lower case) or a file path
  bool from_alias = false;

  // hf://OWNER/REPO or hf://OWNER/REPO:SELECTOR
  std::string Canonical() const;
};

// True when `text` is meant as a model name rather than a path: "hf://..." or a "gemma4:" alias.
bool LooksLikeModelName(const std::string& text);

// Parses an alias ("gemma4:e2b", "gemma4:e2b:q8_0", "gemma4:e2b-q8_0") or "hf://OWNER/REPO[:X]".
// On failure returns false and sets *error to a message that lists the known names.
bool ParseModelName(const std::string& text, ModelRef* out, std::string* error);

}  // namespace g4::hub
