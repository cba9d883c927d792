// libg4 model store: models pulled from the Hugging Face hub by name, kept under the XDG cache
// directory ($G4_HOME, else $XDG_CACHE_HOME/g4, else ~/.cache/g4).
//
// Names: an alias from the table in ModelAliases() ("gemma4:e2b", "gemma4:e4b:q8_0", ...) or a
// hub reference "hf://OWNER/REPO[:FILE_OR_QUANT]". Downloads use the hub's plain HTTPS file API
// ($HF_ENDPOINT, default https://huggingface.co; $HF_TOKEN as a bearer token; proxy variables as
// libcurl reads them), resume interrupted files, check sizes and the sha256 the hub publishes,
// fetch several files at once, and move each file into place only once it is verified. A model
// exists in the store only once its manifest is written, after all of its files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "g4/engine.h"

namespace g4 {

struct ModelAlias {
  std::string name;        // "gemma4:e2b"
  std::string reference;   // "hf://google/gemma-4-E2B-it-qat-q4_0-gguf:q4_0"
  std::string description;
};
std::vector<ModelAlias> ModelAliases();

// True for text meant as a model name ("hf://...", "gemma4:..."), as opposed to a path.
bool IsModelName(const std::string& text);

std::string DefaultStoreRoot();

struct StoreOptions {
  std::string root;             // "" = DefaultStoreRoot()
  int parallel_downloads = 4;   // files fetched at once
  int retries = 3;              // automatic resumes of a broken-off file
  bool progress = true;         // on stderr: a bar on a terminal, plain lines otherwise
};

struct StoredModel {
  std::string name;        // as pulled: the alias, or the hf:// reference
  std::string reference;   // hf://OWNER/REPO[:SELECTOR]
  std::string path;        // what LoadedModel::Load takes: the .gguf file or the checkpoint folder
  std::string format;      // "gguf" or "safetensors"
  std::string quant;       // the tensor type holding most weight bytes ("Q4_0", "BF16", ...)
  std::string variant;     // "E2B", "E4B", "26B-A4B", "31B" or "custom"
  uint64_t bytes = 0;      // all files
  std::vector<std::string> files;
  int64_t pulled_at = 0;   // Unix seconds
  int64_t last_used = 0;   // Unix seconds; 0 = never run
};

class ModelStore {
 public:
  explicit ModelStore(StoreOptions options = {});
  const std::string& root() const { return root_; }

  // Lists the hub repository and downloads what the store lacks (nothing when up to date).
  Status Pull(const std::string& name, StoredModel* out);
  // The stored model a name refers to; *found = false when it has not been pulled.
  Status Find(const std::string& name, StoredModel* out, bool* found) const;
  Status List(std::vector<StoredModel>* out) const;
  // Deletes the model's manifest and the files no other stored model uses.
  Status Remove(const std::string& name, StoredModel* removed);
  // What a command should load for `name_or_path`: an existing path as it is; a model name from
  // the store, pulled first when missing (*pulled = true), with its last-used time updated.
  Status Resolve(const std::string& name_or_path, std::string* path, bool* pulled = nullptr);

 private:
  StoreOptions options_;
  std::string root_;
};

}  // namespace g4
