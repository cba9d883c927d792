#include "hub/file_selection.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include "base/error.h"

namespace g4::hub {

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool IsModelGguf(const RemoteFile& f) {
  const std::string name = Lower(BaseName(f.path));
  return EndsWith(name, ".gguf") && name.find("mmproj") == std::string::npos;
}

// `quant` occurs in the file name as a whole token: not preceded by a letter or digit (so q4_0
// does not match iq4_0) and not followed by one or by '_' (so q4_k does not match q4_k_m).
bool NameHasQuant(const std::string& path, const std::string& quant) {
  const std::string name = Lower(BaseName(path));
  for (size_t at = name.find(quant); at != std::string::npos; at = name.find(quant, at + 1)) {
    const bool left_ok = at == 0 || !std::isalnum(static_cast<unsigned char>(name[at - 1]));
    const size_t end = at + quant.size();
    const bool right_ok = end == name.size() || (!std::isalnum(static_cast<unsigned char>(name[end])) && name[end] != '_');
    if (left_ok && right_ok) return true;
  }
  return false;
}

// Split GGUFs: NAME-00001-of-00003.gguf.
bool IsShardOf(const std::string& path, std::string* stem) {
  static const std::regex kShard(R"((.*)-\d{5}-of-\d{5}\.gguf)", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(path, m, kShard)) return false;
  *stem = m[1];
  return true;
}

bool IsCheckpointFile(const RemoteFile& f) {
  if (f.path.find('/') != std::string::npos) return false;
  const std::string name = Lower(f.path);
  return EndsWith(name, ".safetensors") || EndsWith(name, ".json") || EndsWith(name, ".jinja") ||
         name == "tokenizer.model";
}

std::string Offer(const std::vector<RemoteFile>& files) {
  std::string out;
  bool safetensors = false;
  for (const RemoteFile& f : files) {
    if (IsModelGguf(f)) out += (out.empty() ? "" : ", ") + f.path;
    if (EndsWith(Lower(f.path), ".safetensors") && f.path.find('/') == std::string::npos) safetensors = true;
  }
  if (safetensors) out += std::string(out.empty() ? "" : ", ") + "a safetensors checkpoint (select it with :safetensors)";
  return out.empty() ? "no GGUF file and no safetensors checkpoint" : out;
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

// The mmproj GGUF to pull with the GGUF model at `model_path`: one in the same folder (where g4
// looks for it), the only one, else by precision.
const RemoteFile* PreferredMmproj(const std::vector<RemoteFile>& files, const std::string& model_path) {
  const RemoteFile* best = nullptr;
  int best_rank = 0;
  for (const RemoteFile& f : files) {
    const std::string name = Lower(BaseName(f.path));
    if (!EndsWith(name, ".gguf") || name.find("mmproj") == std::string::npos || f.path == model_path ||
        DirName(f.path) != DirName(model_path)) {
      continue;
    }
    int rank = 5;
    for (const char* quant : {"f16", "bf16", "f32", "q8_0"}) {
      if (NameHasQuant(name, quant)) break;
      --rank;
    }
    if (best == nullptr || rank > best_rank || (rank == best_rank && f.path < best->path)) {
      best = &f;
      best_rank = rank;
    }
  }
  return best;
}

FileSelection Gguf(std::vector<RemoteFile> chosen) {
  std::sort(chosen.begin(), chosen.end(), [](const RemoteFile& a, const RemoteFile& b) { return a.path < b.path; });
  FileSelection s;
  s.format = "gguf";
  s.model_path = chosen.front().path;
  s.files = std::move(chosen);
  return s;
}

}  // namespace

namespace {

FileSelection SelectModelFiles(const std::string& repo, const std::vector<RemoteFile>& files,
                               const std::string& selector) {
  std::vector<RemoteFile> ggufs, checkpoint;
  bool has_weights = false;
  for (const RemoteFile& f : files) {
    if (IsModelGguf(f)) ggufs.push_back(f);
    if (IsCheckpointFile(f)) {
      checkpoint.push_back(f);
      has_weights |= EndsWith(Lower(f.path), ".safetensors");
    }
  }
  const std::string sel = Lower(selector);
  const bool want_checkpoint = sel == "safetensors" || sel == "hf" || ((sel == "bf16" || sel.empty()) && ggufs.empty());

  // An exact file name.
  for (const RemoteFile& f : files) {
    if (!selector.empty() && (f.path == selector || Lower(f.path) == sel)) {
      std::string stem;
      if (IsShardOf(f.path, &stem)) {
        std::vector<RemoteFile> shards;
        std::string other;
        for (const RemoteFile& g : files) {
          if (IsShardOf(g.path, &other) && other == stem) shards.push_back(g);
        }
        return Gguf(shards);
      }
      if (EndsWith(sel, ".gguf")) return Gguf({f});
      Fail(repo, ": ", f.path, " is not a GGUF file; name a .gguf file or a quant");
    }
  }
  if (want_checkpoint) {
    if (!has_weights) Fail(repo, ": no safetensors checkpoint here; the repository offers ", Offer(files));
    FileSelection s;
    s.format = "safetensors";
    s.files = checkpoint;
    bool has_config = false;
    for (const RemoteFile& f : checkpoint) has_config |= f.path == "config.json";
    if (!has_config) Fail(repo, ": the safetensors checkpoint has no config.json");
    return s;
  }
  std::vector<RemoteFile> matches;
  for (const RemoteFile& f : ggufs) {
    if (sel.empty() || NameHasQuant(f.path, sel)) matches.push_back(f);
  }
  if (matches.empty()) {
    Fail(repo, sel.empty() ? ": nothing to download" : ": no GGUF file matches '" + selector + "'",
         "; the repository offers ", Offer(files));
  }
  // Several matches are fine when they are the shards of one split file.
  std::string stem, first_stem;
  bool one_split = IsShardOf(matches.front().path, &first_stem);
  for (const RemoteFile& f : matches) one_split = one_split && IsShardOf(f.path, &stem) && stem == first_stem;
  if (matches.size() > 1 && !one_split) {
    Fail(repo, ": '", selector.empty() ? std::string("(no quant given)") : selector, "' matches several files: ",
         Offer(matches), "; add the quant or the file name after ':'");
  }
  return Gguf(matches);
}

}  // namespace

FileSelection SelectFiles(const std::string& repo, const std::vector<RemoteFile>& files, const std::string& selector) {
  FileSelection s = SelectModelFiles(repo, files, selector);
  const RemoteFile* mmproj = s.format == "gguf" ? PreferredMmproj(files, s.model_path) : nullptr;
  if (mmproj != nullptr) {
    s.mmproj_path = mmproj->path;
    s.files.push_back(*mmproj);
  }
  return s;
}

}  // namespace g4::hub
