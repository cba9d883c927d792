// Which files of a hub repository make up the model a name asks for.
#pragma once

#include <string>
#include <vector>

#include "hub/hub_client.h"

namespace g4::hub {

struct FileSelection {
  std::string format;              // "gguf" or "safetensors"
  std::vector<RemoteFile> files;   // to download
  std::string model_path;          // inside the repo: the .gguf file (first shard), or "" for the repo folder
  std::string mmproj_path;         // inside the repo: the mmproj GGUF pulled with a GGUF model ("" if none)
};

// `selector` is "" (the repo's only GGUF, else its safetensors checkpoint), a file path, or a quant
// such as "q4_0" / "Q8_0" / "bf16" matched against the GGUF file names (as llama.cpp's -hf REPO:QUANT
// does; mmproj files are skipped). A safetensors checkpoint is the root folder's *.safetensors,
// *.json and *.jinja files. A GGUF model comes with the repo's mmproj file (the vision/audio
// encoders, found next to the model when it runs), as llama.cpp's -hf does; of several, the f16
// one, else bf16, f32, q8_0, else the first by name. Throws g4::Error listing what the repo offers
// when nothing matches or the choice is ambiguous.
FileSelection SelectFiles(const std::string& repo, const std::vector<RemoteFile>& files, const std::string& selector);

}  // namespace g4::hub
