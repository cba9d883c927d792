#include "hub/model_names.h"

#include <algorithm>
#include <cctype>

namespace g4::hub {

namespace {

// The one alias table (README "Model names" repeats it). The default of each size is Google's
// quantization-aware-trained Q4_0 GGUF; q4_k_m and q8_0 come from ggml-org's GGUF conversions;
// bf16 is Google's official safetensors checkpoint.
const std::vector<AliasEntry> kModelAliases = {
    {"gemma4:e2b", "google/gemma-4-E2B-it-qat-q4_0-gguf", "q4_0", "E2B, Google's QAT Q4_0 GGUF (default)"},
    {"gemma4:e2b:q4_k_m", "ggml-org/gemma-4-E2B-it-GGUF", "q4_k_m", "E2B, Q4_K_M GGUF"},
    {"gemma4:e2b:q8_0", "ggml-org/gemma-4-E2B-it-GGUF", "q8_0", "E2B, Q8_0 GGUF"},
    {"gemma4:e2b:bf16", "google/gemma-4-E2B-it", "", "E2B, official bf16 safetensors"},
    {"gemma4:e4b", "google/gemma-4-E4B-it-qat-q4_0-gguf", "q4_0", "E4B, Google's QAT Q4_0 GGUF (default)"},
    {"gemma4:e4b:q4_k_m", "ggml-org/gemma-4-E4B-it-GGUF", "q4_k_m", "E4B, Q4_K_M GGUF"},
    {"gemma4:e4b:q8_0", "ggml-org/gemma-4-E4B-it-GGUF", "q8_0", "E4B, Q8_0 GGUF"},
    {"gemma4:e4b:bf16", "google/gemma-4-E4B-it", "", "E4B, official bf16 safetensors"},
    {"gemma4:26b", "google/gemma-4-26B-A4B-it-qat-q4_0-gguf", "q4_0", "26B-A4B (MoE), Google's QAT Q4_0 GGUF (default)"},
    {"gemma4:26b:q4_k_m", "ggml-org/gemma-4-26B-A4B-it-GGUF", "q4_k_m", "26B-A4B, Q4_K_M GGUF"},
    {"gemma4:26b:q8_0", "ggml-org/gemma-4-26B-A4B-it-GGUF", "q8_0", "26B-A4B, Q8_0 GGUF"},
    {"gemma4:26b:bf16", "google/gemma-4-26B-A4B-it", "", "26B-A4B, official bf16 safetensors"},
    {"gemma4:31b", "google/gemma-4-31B-it-qat-q4_0-gguf", "q4_0", "31B, Google's QAT Q4_0 GGUF (default)"},
    {"gemma4:31b:q4_k_m", "ggml-org/gemma-4-31B-it-GGUF", "q4_k_m", "31B, Q4_K_M GGUF"},
    {"gemma4:31b:q8_0", "ggml-org/gemma-4-31B-it-GGUF", "q8_0", "31B, Q8_0 GGUF"},
    {"gemma4:31b:bf16", "google/gemma-4-31B-it", "", "31B, official bf16 safetensors"},
};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ValidRepoPart(const std::string& part) {
  if (part.empty() || part == "." || part == "..") return false;
  return std::all_of(part.begin(), part.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

std::string KnownNames() {
  std::string out;
  for (const AliasEntry& a : kModelAliases) {
    if (!out.empty()) out += ", ";
    out += a.name;
  }
  return out;
}

// The default row of a size ("gemma4:e2b") also answers to its explicit quant ("gemma4:e2b:q4_0").
const AliasEntry* FindAlias(const std::string& name) {
  for (const AliasEntry& a : kModelAliases) {
    const std::string row = a.name;
    if (name == row) return &a;
    const bool default_row = row.find(':') == row.rfind(':');
    if (default_row && name == row + ":" + a.selector) return &a;
  }
  return nullptr;
}

}  // namespace

const std::vector<AliasEntry>& ModelAliases() { return kModelAliases; }

std::string ModelRef::Canonical() const {
  return selector.empty() ? "hf://" + repo : "hf://" + repo + ":" + selector;
}

bool LooksLikeModelName(const std::string& text) {
  return text.rfind("hf://", 0) == 0 || Lower(text).rfind("gemma4:", 0) == 0;
}

bool ParseModelName(const std::string& text, ModelRef* out, std::string* error) {
  if (text.rfind("hf://", 0) == 0) {
    const std::string rest = text.substr(5);
    const size_t colon = rest.find(':');
    const std::string repo = rest.substr(0, colon);
    const size_t slash = repo.find('/');
    if (slash == std::string::npos || !ValidRepoPart(repo.substr(0, slash)) || !ValidRepoPart(repo.substr(slash + 1))) {
      *error = "'" + text + "' is not a Hugging Face reference: expected hf://OWNER/REPO[:FILE_OR_QUANT]";
      return false;
    }
    ModelRef ref;
    ref.repo = repo;
    if (colon != std::string::npos) {
      ref.selector = rest.substr(colon + 1);
      if (ref.selector.empty() || ref.selector.find("..") != std::string::npos || ref.selector[0] == '/') {
        *error = "'" + text + "': the part after ':' must name a file or a quant (e.g. q4_0)";
        return false;
      }
      // A quant is matched case-insensitively; a file name (with a dot) is kept as written.
      if (ref.selector.find('.') == std::string::npos) ref.selector = Lower(ref.selector);
    }
    ref.name = ref.Canonical();
    *out = ref;
    return true;
  }
  std::string name = Lower(text);
  const AliasEntry* alias = FindAlias(name);
  if (alias == nullptr) {
    // Ollama spells variants with a dash: gemma4:e2b-q8_0.
    const size_t dash = name.find('-', 7);
    if (dash != std::string::npos) alias = FindAlias(name.substr(0, dash) + ":" + name.substr(dash + 1));
  }
  if (alias == nullptr) {
    *error = "unknown model name '" + text + "'. Known names: " + KnownNames() +
             "; or a Hugging Face reference hf://OWNER/REPO[:FILE_OR_QUANT]";
    return false;
  }
  ModelRef ref;
  ref.name = alias->name;
  ref.repo = alias->repo;
  ref.selector = alias->selector;
  ref.from_alias = true;
  *out = ref;
  return true;
}

}  // namespace g4::hub
